"""The on-call pages' one stylesheet, inlined into every page: light and dark schemes, status colours that
always come with a glyph and words, and the state graph's boxes and lines."""

from __future__ import annotations

CSS = """
:root{--bg:#f6f6f3;--panel:#fff;--text:#1d2330;--muted:#566070;--border:#d6dae0;--link:#0b57a4;
--ok:#16662b;--ok-bg:#e3f3e6;--ok-line:#2e9b4e;--bad:#a3211b;--bad-bg:#fcebea;--bad-line:#d0432f;
--warn:#8a4a00;--warn-bg:#fff0dc;--warn-line:#df8a1d;--run:#0e579f;--run-bg:#e3eefb;--run-line:#3b82d6;
--idle:#566070;--idle-bg:#f0f1f3;--idle-line:#b3bac4;--edge:#9aa3af;--edge-taken:#3d4654;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--panel:#1b1f26;--text:#e5e7ea;--muted:#a2a9b4;
--border:#343b46;--link:#8cc2ff;--ok:#7fd89c;--ok-bg:#16301f;--ok-line:#3fa862;--bad:#ff9d92;--bad-bg:#3b1a18;
--bad-line:#e0574a;--warn:#ffc47e;--warn-bg:#3a2a12;--warn-line:#e59b3a;--run:#8fc3ff;--run-bg:#15283f;
--run-line:#4a93e0;--idle:#a2a9b4;--idle-bg:#232830;--idle-line:#4b535f;--edge:#5b6470;--edge-taken:#c3c9d2}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
a{color:var(--link)}a:focus-visible{outline:3px solid var(--run-line);outline-offset:2px}
h1{font-size:1.55rem;margin:.2em 0 .3em;overflow-wrap:anywhere}h1.mono{font-size:1.4rem}
h2{font-size:1.2rem;margin:0 0 .6em}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em}
.crumbs{font-size:.95rem;color:var(--muted)}.muted{color:var(--muted)}
section{background:var(--panel);border:1px solid var(--border);border-radius:10px;padding:18px 20px;margin:18px 0}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:8px 0 0}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;font-size:.9rem;
border:1px solid;white-space:nowrap}
.badge.ok{color:var(--ok);background:var(--ok-bg);border-color:var(--ok-line)}
.badge.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad-line)}
.badge.warn{color:var(--warn);background:var(--warn-bg);border-color:var(--warn-line)}
.badge.run{color:var(--run);background:var(--run-bg);border-color:var(--run-line)}
.badge.idle{color:var(--idle);background:var(--idle-bg);border-color:var(--idle-line)}
section.failure{background:var(--bad-bg);border:2px solid var(--bad-line);border-left-width:8px}
section.failure h2{color:var(--bad);font-size:1.35rem}
section.failure.interrupted{background:var(--warn-bg);border-color:var(--warn-line)}
section.failure.interrupted h2{color:var(--warn)}
.failure dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 18px;margin:0}
.failure dt{font-weight:600}.failure dd{margin:0;overflow-wrap:anywhere}
.cause{white-space:pre-wrap;margin:0;font-size:1.02rem;line-height:1.5}
pre.json{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--panel);border:1px solid var(--border);
border-radius:6px;padding:10px 12px;margin:8px 0 0;max-height:28em;overflow:auto}
details>summary{cursor:pointer;color:var(--link)}td details>summary{font-size:.8rem;color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--border);vertical-align:top}
th{font-size:.85rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);position:sticky;top:0;
background:var(--panel)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.err td{background:var(--bad-bg)}tr.err td:first-child{box-shadow:inset 5px 0 0 var(--bad-line)}
tr.err .type{color:var(--bad);font-weight:600}
td.detail{overflow-wrap:anywhere;max-width:36em}
.scroll{overflow-x:auto}
.filters a,.filters strong{margin-right:14px}
.legend{list-style:none;padding:0;margin:12px 0 0;display:flex;flex-wrap:wrap;gap:8px 20px;font-size:.95rem}
.legend li{display:flex;align-items:center;gap:7px}
.swatch{display:inline-block;width:22px;height:16px;border-radius:4px;border:2px solid}
.swatch.succeeded{background:var(--ok-bg);border-color:var(--ok-line)}
.swatch.failed{background:var(--bad-bg);border-color:var(--bad-line)}
.swatch.caught{background:var(--warn-bg);border-color:var(--warn-line)}
.swatch.running{background:var(--run-bg);border-color:var(--run-line)}
.swatch.not_reached{background:var(--idle-bg);border-color:var(--idle-line);border-style:dashed}
.line{display:inline-block;width:34px;border-top:2px solid var(--edge-taken)}
.line.dashed{border-top-style:dashed;border-color:var(--edge)}.line.thin{border-top-width:1.5px;border-color:var(--edge)}
svg.graph{max-width:100%;height:auto;display:block}
svg .node rect{stroke-width:2}
svg .node.succeeded rect{fill:var(--ok-bg);stroke:var(--ok-line)}
svg .node.failed rect{fill:var(--bad-bg);stroke:var(--bad-line);stroke-width:3}
svg .node.caught rect{fill:var(--warn-bg);stroke:var(--warn-line);stroke-width:3}
svg .node.running rect{fill:var(--run-bg);stroke:var(--run-line);stroke-width:3}
svg .node.not_reached rect{fill:var(--idle-bg);stroke:var(--idle-line);stroke-dasharray:5 4}
svg .node .name{font-weight:600;font-size:14px;fill:var(--text)}
svg .node .sub{font-size:12.5px}
svg .node.succeeded .sub{fill:var(--ok)}svg .node.failed .sub{fill:var(--bad)}
svg .node.caught .sub{fill:var(--warn)}svg .node.running .sub{fill:var(--run)}
svg .node.not_reached .sub,svg .node.not_reached .name{fill:var(--idle)}
svg .edge{fill:none;stroke:var(--edge);stroke-width:1.5}
svg .edge.taken{stroke:var(--edge-taken);stroke-width:2.5}
svg .edge.catch{stroke-dasharray:6 5}
svg .arrow{fill:var(--edge)}svg .arrow.taken{fill:var(--edge-taken)}
ul.evidence{margin:0;padding-left:1.2em}code.copy{user-select:all}ul.evidence li{margin:4px 0;overflow-wrap:anywhere}
pre.cmd{margin:6px 0 0;padding:8px 12px;background:var(--idle-bg);border:1px solid var(--border);border-radius:6px;
white-space:pre-wrap;overflow-wrap:anywhere}ol.actions{padding-left:1.3em;margin:.6em 0 0}ol.actions li{margin:0 0 10px}
ol.actions p{margin:.2em 0}section.incident{border-left:8px solid var(--warn-line)}
.filter{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:0 0 8px}.filter select{max-width:100%}
.filter-problem{background:var(--warn-bg);border:1px solid var(--warn-line);border-radius:6px;padding:8px 12px}
svg a{cursor:pointer}svg a:focus-visible rect,svg a:hover rect{stroke-width:4}
svg .node.selected rect{stroke:var(--run-line);stroke-width:5}pre.log{font-size:.8em}
footer{color:var(--muted);font-size:.85rem;margin-top:28px}
@media (max-width:600px){main{padding:12px 12px 32px}section{padding:14px}
.failure dl,.meta{grid-template-columns:1fr;gap:2px}.failure dd,.meta dd{margin-bottom:8px}}
"""
