/** The cluster page's HTML and CSS (page.ts serves them; page-script.ts fills the page in). */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eid cluster</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header>
<h1>eid: <span id="host">…</span></h1>
<p id="status" role="status">loading /v1/membership…</p>
</header>
<main>
<section id="hosts-section"><h2>Hosts</h2>
<table id="hosts"><thead><tr><th>Host</th><th>Daemon</th><th>Containers</th><th>Not served</th><th>Registered nodes</th><th>Last heard</th></tr></thead><tbody></tbody></table>
</section>
<section id="clusters-section"><h2>Clusters</h2><div id="clusters"><p class="none">This daemon forms no cluster (eid daemon --clusters FILE).</p></div></section>
<section id="containers-section"><h2>Containers</h2>
<table id="containers"><thead><tr><th>Host</th><th>Container</th><th>Name</th><th>Image</th><th>Node</th><th>Cluster</th><th>Port</th><th>Served</th><th>eid labels</th></tr></thead><tbody></tbody></table>
</section>
<section id="registered-section"><h2>Nodes registered on the hosts</h2>
<table id="registered"><thead><tr><th>Host</th><th>Name</th><th>Port</th></tr></thead><tbody></tbody></table>
</section>
</main>
<footer>Data: <a href="/v1/membership">/v1/membership</a> (docs/operating.md) · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></footer>
</body>
</html>
`;

export const PAGE_CSS = `
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --dim: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 13px/1.4 system-ui, sans-serif; margin: 0 16px 16px; color: #1f2328; background: #fff; }
header { display: flex; align-items: baseline; gap: 16px; border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 10px 0; }
h2 { font-size: 15px; margin: 14px 0 6px; }
h3 { font-size: 14px; margin: 8px 0 4px; }
#status { color: var(--dim); margin: 0; }
#status.stale { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--dim); font-weight: 600; }
td { overflow-wrap: anywhere; }
.ok { color: var(--ok); }
.warn { color: var(--warn); }
.bad { color: var(--bad); }
.dim, .none { color: var(--dim); }
.mono { font-family: ui-monospace, monospace; font-size: 12px; white-space: nowrap; }
td.mono div { white-space: pre-wrap; }
#clusters { display: grid; grid-template-columns: repeat(auto-fit, minmax(580px, 1fr)); gap: 0 24px; }
#clusters > section { min-width: 0; }
.cluster { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; margin-bottom: 8px; }
.cluster svg { flex: 0 0 auto; border: 1px solid var(--line); border-radius: 4px; }
.cluster table { flex: 1 1 auto; width: auto; }
svg .edge { stroke: var(--ok); stroke-width: 2; }
svg .missing { stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg circle { stroke: #fff; stroke-width: 2; }
svg circle.up { fill: var(--ok); }
svg circle.solo { fill: var(--dim); }
svg circle.down { fill: var(--bad); }
svg text { font: 10px ui-monospace, monospace; fill: #1f2328; }
footer { margin-top: 16px; color: var(--dim); }
`;
