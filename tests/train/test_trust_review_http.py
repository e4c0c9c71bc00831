"""The review page over plain HTTP (no browser needed): its refusals, a decision's record, resuming, bad decisions refused."""

from __future__ import annotations

import json

from review_kit import check_refusals, request, review_server
from test_trust_labels import _stub_run


def test_review_server_refuses_records_and_resumes(tmp_path, subprocess_env):
    from cai_lang.trust.decisions import pair_hash, review_order

    _, run, rows, labels = _stub_run(tmp_path, pairs=4)
    (tmp_path / "secret.txt").write_text("outside the run folder")
    order = review_order(rows, {label.pair_id: label.to_dict() for label in labels})
    with review_server(run, subprocess_env, reviewer="bob") as (url, base, token):
        check_refusals(base, token, run, order[0])
        status, headers, body = request(base, path="/?" + url.split("?", 1)[1])
        assert status == 303 and "caic_review_token=" in headers["set-cookie"] and "samesite=strict" in headers["set-cookie"].lower()
        status, headers, page = request(base, path="/", headers={"Cookie": f"caic_review_token={token}"})
        assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
        assert f'data-pair-id="{order[0]}"' in page.decode()
        write = {"X-Review-Token": token, "Content-Type": "application/json", "Origin": base, "Sec-Fetch-Site": "same-origin"}
        for bad in ({"pair_id": "nope", "decision": "a"}, {"pair_id": order[0], "decision": "maybe"},
                    {"pair_id": order[0], "decision": "a", "principle": "not-a-principle"},
                    {"pair_id": order[0], "decision": "a", "note": "x" * 5000}, ["a"]):
            assert request(base, "POST", "/api/decision", write, json.dumps(bad).encode())[0] == 400, bad
        status, _, body = request(base, "POST", "/api/decision", write,
                                  json.dumps({"pair_id": order[0], "decision": "b", "principle": "safe", "note": "A is sloppier"}).encode())
        assert status == 200 and json.loads(body)["next"] == order[1]
        status, _, page = request(base, path="/", headers={"Cookie": f"caic_review_token={token}"})
        assert f'data-pair-id="{order[1]}"' in page.decode() and "1 of 4" in page.decode()
    (saved,) = [json.loads(line) for line in (run / "review_decisions.jsonl").read_text().splitlines()]
    pair = next(r for r in rows if r["id"] == order[0])
    assert saved["reviewer"] == "bob" and saved["pair_id"] == order[0] and saved["content_hash"] == pair_hash(pair)
    assert saved["decision"] == "b" and saved["principle"] == "safe" and saved["note"] == "A is sloppier"
    assert saved["agrees_with_ai"] == (saved["ai"]["side"] == "b")
    # A new server (a new token) resumes where the file says.
    with review_server(run, subprocess_env, reviewer="bob") as (url, base, token):
        status, _, page = request(base, path="/", headers={"X-Review-Token": token})
        assert status == 200 and f'data-pair-id="{order[1]}"' in page.decode()
