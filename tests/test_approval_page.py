"""The approval page as an approver's phone and desk show it (issue 18), in headless Chromium from
Debian's packages: an emergency SIT -> PROD request outside the maintenance window. At 390 x 844 and
1280 x 800 the decision button is inside the first screen, what is unusual is said at the top, no label
breaks inside a word and nothing is wider than the screen. Screenshots are kept in
local/.state/screenshots/ for a person to look at."""
from __future__ import annotations

import pipeline_helpers as ph
from browser import browser  # noqa: F401 (the fixture)

SIT_TO_PROD = ph.sample_input("promote-sit-to-prod")
FAST = {"monitor": {"sit_seconds": 1, "prod_seconds": 1, "poll_seconds": 1}}
VIEWPORTS = {"phone": (390, 844, 3, True), "desk": (1280, 800, 1, False)}

# Every word of every label, heading and flag: a word whose pieces lie on more than one line broke.
MEASURE = r"""(() => {
  const broken = [];
  for (const el of document.querySelectorAll('h1, h2, dt, label, .flags li, button')) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const re = /\S+/g; let m;
      while ((m = re.exec(node.data))) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
        if (lines.size > 1) broken.push(el.tagName.toLowerCase() + ': ' + m[0]);
      }
    }
  }
  const button = document.querySelector('button[name=confirm]');
  const b = button ? button.getBoundingClientRect() : null;
  return {width: window.innerWidth, height: window.innerHeight, broken,
          scrollWidth: document.documentElement.scrollWidth,
          button: b && {top: b.top, bottom: b.bottom, width: b.width},
          flags: [...document.querySelectorAll('.flags li')].map(e => e.textContent),
          firstScreen: document.body.innerText.slice(0, 600)};
})()"""


def test_the_decision_is_on_the_first_screen_of_a_phone_and_a_desk(browser, preflight_config):
    windows, _ = ph.windows_not_today()
    preflight_config("prod", maintenance_windows=windows, **FAST)
    ph.record_gates("sit", "bbws-tenant-instance-management-sit", "latest-sit")
    arn = ph.start("prod", {**SIT_TO_PROD, "emergency": {"incident": "INC-77"}})
    try:
        links = ph.approval_links("tech-lead@bbws.io", arn)
        for decision in ("approve", "reject"):
            for name, (w, h, scale, mobile) in VIEWPORTS.items():
                seen = browser.look(links[decision], w, h, scale, mobile, f"{decision}-{name}-{w}x{h}.png", MEASURE)[0]
                where = f"{decision} page, {name} {w} x {h}"
                assert seen["width"] == w, (where, seen["width"])
                assert seen["button"], f"{where}: no decision button"
                assert 0 <= seen["button"]["top"] and seen["button"]["bottom"] <= h, \
                    f"{where}: the button is at {seen['button']['top']:.0f}-{seen['button']['bottom']:.0f} px"
                assert seen["broken"] == [], f"{where}: words broken across lines: {seen['broken']}"
                assert seen["scrollWidth"] <= w, f"{where}: {seen['scrollWidth']} px wide"
                for flag in ("Into PROD", "Emergency — incident INC-77", "Outside the maintenance window"):
                    assert flag in seen["flags"], (where, seen["flags"])
                first = seen["firstScreen"]
                assert "Tech Lead and CTO — you are the Tech Lead; 0 of 2 given" in first, (where, first)
                assert " UTC on " in first and "Decide in " in first, (where, first)
    finally:
        ph.end_leftover_executions()
