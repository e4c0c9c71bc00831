// caic review: keyboard shortcuts and posting a decision. Model text is never inserted here:
// the server renders it, escaped, and this script only reads ids and form values.
(function () {
  "use strict";
  var main = document.getElementById("pair");
  if (!main) { return; }
  var token = document.querySelector('meta[name="review-token"]').getAttribute("content");
  var status = document.getElementById("status");
  var busy = false;

  function decide(choice) {
    if (busy) { return; }
    busy = true;
    status.textContent = "saving…";
    fetch("/api/decision", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Review-Token": token },
      body: JSON.stringify({
        pair_id: main.getAttribute("data-pair-id"),
        decision: choice,
        principle: document.getElementById("principle").value || null,
        note: document.getElementById("note").value
      })
    }).then(function (response) {
      if (!response.ok) { throw new Error("the server answered " + response.status); }
      window.location.assign("/");
    }).catch(function (error) {
      busy = false;
      status.textContent = "not saved: " + error.message;
    });
  }

  var keys = { a: "a", b: "b", t: "tie", s: "skip", "1": "a", "2": "b" };
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "TEXTAREA" || tag === "SELECT" || tag === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var choice = keys[event.key];
    if (choice) { event.preventDefault(); decide(choice); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("button[data-decision]"), function (button) {
    button.addEventListener("click", function () { decide(button.getAttribute("data-decision")); });
  });
  document.body.setAttribute("data-ready", "1");
})();
