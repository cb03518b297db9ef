"""Keeping the page of a running execution current, accessibly (instead of ``<meta http-equiv="refresh">``).

A timed meta refresh reloads under the reader's feet: focus, scroll position and a screen reader's place
are lost every few seconds and nobody can stop it (WCAG 2.2.1 / 2.2.2; axe-core rule ``meta-refresh``,
critical). Pages of running work carry instead:

* a visible "Reload" link and the time the page shows, which work without script;
* one small inline script (allowed by its hash in the pages' Content-Security-Policy, nothing else may
  run) that, every ``seconds``, fetches the page again and reloads only when its ``data-refresh-key``
  changed (new events, a new status) — when the work ended the next page has no key, so it reloads
  once more and stops;
* a "Pause auto-refresh" toggle button (``aria-pressed``, remembered for the tab) and a polite live
  region that says what the auto-refresh is doing.
"""

from __future__ import annotations

import base64
import hashlib
import html

#: Static text: its hash is what the Content-Security-Policy allows, so nothing may be interpolated into it.
REFRESH_SCRIPT = """(function () {
  var main = document.querySelector("main[data-refresh-key]");
  var button = document.getElementById("refresh-toggle");
  var status = document.getElementById("refresh-status");
  if (!main || !button || !status) return;
  var key = main.getAttribute("data-refresh-key");
  var seconds = Number(main.getAttribute("data-refresh-seconds")) || 15;
  var memory = "mlops-refresh-paused:" + location.pathname;
  var paused = false;
  try { paused = sessionStorage.getItem(memory) === "1"; } catch (e) {}
  function say() {
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    status.textContent = paused
      ? "Auto-refresh is paused; use Reload to see new events."
      : "Auto-refresh is on: every " + seconds + " s this page checks for new events and reloads when there are.";
  }
  button.hidden = false;
  say();
  button.addEventListener("click", function () {
    paused = !paused;
    try { sessionStorage.setItem(memory, paused ? "1" : "0"); } catch (e) {}
    say();
  });
  function check() {
    if (paused) { setTimeout(check, seconds * 1000); return; }
    fetch(location.href, { cache: "no-store", credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) { return answer.text(); })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        if (!paused && (!next || next.getAttribute("data-refresh-key") !== key)) { location.reload(); return; }
        setTimeout(check, seconds * 1000);
      })
      .catch(function () {
        status.textContent = "Could not check for new events; trying again in " + seconds + " s.";
        setTimeout(check, seconds * 1000);
      });
  }
  setTimeout(check, seconds * 1000);
})();"""

#: The CSP source expression that allows :data:`REFRESH_SCRIPT` and no other script.
REFRESH_SCRIPT_CSP = "'sha256-" + base64.b64encode(hashlib.sha256(REFRESH_SCRIPT.encode()).digest()).decode() + "'"


def main_attributes(refresh_key: str | None, seconds: int | None) -> str:
    """The ``<main>`` attributes the script reads: empty when the page needs no refreshing."""
    if not refresh_key or not seconds:
        return ""
    return f' data-refresh-key="{html.escape(refresh_key)}" data-refresh-seconds="{int(seconds)}"'


def refresh_controls(as_of: str, seconds: int) -> str:
    """The visible part: what time the page shows, a Reload link (no script needed), the pause button, the status."""
    return (
        '<div class="refresh" data-testid="refresh">'
        f"<p>Still running: this page shows it as of {html.escape(as_of)}. "
        '<a href="" data-testid="reload">Reload</a> to see what happened since.</p>'
        # Hidden until the script runs: without script the button could do nothing.
        '<p><button type="button" id="refresh-toggle" data-testid="refresh-toggle" aria-pressed="false" hidden>'
        "Pause auto-refresh</button> "
        f'<span id="refresh-status" role="status" data-testid="refresh-status" data-seconds="{int(seconds)}">'
        "</span></p></div>"
    )


def script_tag() -> str:
    return f"<script>{REFRESH_SCRIPT}</script>"
