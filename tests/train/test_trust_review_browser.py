"""Issue 23: the review page in a real browser (Debian's chromium driven by Selenium through Debian's chromedriver).

Open with the token, judge three pairs with the keyboard, reload and
resume, a response holding `<script>alert(1)</script>` shown as text, a
request without the token refused, a cross-site write refused, a path
outside the run folder refused; the three decisions then train a
preference model through the loader `--human-preferences` uses.
Screenshots go to docs/images/ when CAIC_SCREENSHOT_DIR names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from browser_kit import browser
from review_kit import check_refusals, review_server
from test_trust_labels import _stub_run
from train_testkit import caic_command

SCRIPT = "<script>alert(1)</script>"


def _driver():
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        if os.environ.get("CAIC_REQUIRE_BROWSER") or os.geteuid() == 0:
            pytest.fail("chromedriver is not installed: run `apt-get install -y chromium-driver` (scripts/setup.sh does so as root)")
        pytest.skip("chromedriver is not installed and this user cannot install it")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1300",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    # The Debian driver, named explicitly: Selenium Manager never looks for (or downloads) one.
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def _shot(driver, name: str) -> None:
    keep = os.environ.get("CAIC_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / name))


def _wait(condition, what: str, timeout: float = 30.0):
    """Poll `condition` until it holds; an element the page replaced while it was read (the page
    swaps in the next pair) only means "not yet", so the poll goes on. A hang guard, not a speed check."""
    from selenium.common.exceptions import StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            found = condition()
        except StaleElementReferenceException:
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_review_page_in_chromium_then_train(tmp_path, subprocess_env, tiny_model):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    bundle, run, rows, _ = _stub_run(tmp_path, pairs=6)
    # The first pair in review order gets a response that tries to run a script.
    labels = [json.loads(line) for line in (run / "rl_labels.jsonl").read_text().splitlines()]
    from cai_lang.trust.decisions import review_order

    first = review_order(rows, {row["pair_id"]: row for row in labels})[0]
    for row in rows:
        if row["id"] == first:
            row["response_a"] = f"Sure. {SCRIPT} done"
    (run / "rl_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "secret.txt").write_text("outside the run folder")

    driver = None
    with review_server(run, subprocess_env) as (url, base, token):
        try:
            check_refusals(base, token, run, first)
            driver = _driver()
            driver.get(url)
            _wait(lambda: driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the page script")
            assert "token=" not in driver.current_url  # the token moved to a cookie
            shown = driver.find_element(By.ID, "pair").get_attribute("data-pair-id")
            assert shown == first
            assert SCRIPT in driver.find_element(By.CSS_SELECTOR, "#response-a pre").text
            with pytest.raises(NoAlertPresentException):
                driver.switch_to.alert.text
            _shot(driver, "review_page.png")

            decided = []
            for key in ("a", "b", "a"):
                current = driver.find_element(By.ID, "pair").get_attribute("data-pair-id")
                driver.find_element(By.TAG_NAME, "body").send_keys(key)
                _wait(lambda: driver.find_elements(By.ID, "pair") and driver.find_element(By.ID, "pair").get_attribute("data-pair-id") != current,
                      f"the next pair after {key}")
                decided.append((current, key))
            lines = (run / "review_decisions.jsonl").read_text().splitlines()
            assert [(json.loads(line)["pair_id"], json.loads(line)["decision"]) for line in lines] == decided
            row = json.loads(lines[0])
            assert row["reviewer"] == "alice" and len(row["content_hash"]) == 64 and row["ai"]["p_a"] is not None and "time" in row

            driver.refresh()
            _wait(lambda: driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", "the reloaded page")
            resumed = driver.find_element(By.ID, "pair").get_attribute("data-pair-id")
            assert resumed not in {pid for pid, _ in decided}
            assert driver.find_element(By.ID, "progress").text.startswith("3 of 6")
            _shot(driver, "review_page_resumed.png")
        finally:
            if driver is not None:
                driver.quit()

    # The three decisions train a preference model through --human-preferences' loader.
    from cai_lang.train.modelcard import Provenance
    from cai_lang.train.rl.pipeline import human_rows
    from cai_lang.train.rl.preference import PreferenceTrainingConfig, train_preference_model

    human = human_rows(run / "review_decisions.jsonl")
    assert len(human) == 3 and all(r["soft_label"] == 1.0 and r["source"] == "human" for r in human)
    assert SCRIPT in human[0]["chosen"][0]["content"]  # decided "a" on the pair whose A holds the script: kept verbatim, as data
    result = train_preference_model(str(tiny_model), human, PreferenceTrainingConfig(output_dir=str(tmp_path / "pm"), max_steps=1, batch_size=2,
                                                                                       eval_fraction=0.0),
                                    provenance=Provenance.of_bundle(bundle))
    assert result.human_rows == 3 and (result.output_dir / "config.json").is_file()

    exported = tmp_path / "human.jsonl"
    done = subprocess.run([*caic_command(), "review", str(run), "--export", str(exported)], capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 preference rows" in done.stdout
    assert [json.loads(line)["chosen_is"] for line in exported.read_text().splitlines()] == ["a", "b", "a"]
