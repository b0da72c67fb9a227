/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * Links are absolute paths from the dashboard's root (`root` ends in `/`), so the page works whether it
 * was asked for with or without the trailing slash.
 */
function layout(title: string, root: string, body: string, script = false): string {
  const t = escapeHtml(title)
  const r = escapeHtml(root)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<link rel="icon" href="${r}assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${r}assets/uplot.css">
<link rel="stylesheet" href="${r}assets/app.css">
${script ? `<script src="${r}assets/uplot.js" defer></script>\n<script type="module" src="${r}assets/app.js"></script>` : ''}
</head>
<body data-base="${r}">
${body}
</body>
</html>
`
}

function notice(title: string, root: string, heading: string, inner: string): string {
  return layout(title, root, `<main class="notice"><h1>${escapeHtml(heading)}</h1>${inner}</main>`)
}

/**
 * The dashboard page. It holds no data: its script (the `app.js` module and those it imports) fetches `api/snapshot` and fills the page with
 * `textContent`, so nothing the monitor recorded is ever parsed as HTML.
 */
export function dashboardPage(title: string, root: string, options: { signOut: boolean }): string {
  return layout(
    title,
    root,
    `<header class="top">
  <h1 id="title">${escapeHtml(title)}</h1>
  <span id="status" class="status" role="status">loading…</span>
  <nav class="controls">
    <label class="range">Range <select id="range">
      <option value="live">Live (window)</option>
      <option value="1h">1 hour</option>
      <option value="24h">24 hours</option>
      <option value="7d">7 days</option>
    </select></label>
    <button id="pause" type="button" aria-pressed="false">Pause</button>
    <button id="clear" type="button" class="danger">Clear stats</button>
    ${options.signOut ? '<button id="logout" type="button">Sign out</button>' : ''}
  </nav>
</header>
<div id="warning" class="banner" hidden></div>
<section id="cards" class="cards" aria-label="Summary"></section>
<section class="charts" aria-label="Charts">
  <figure class="chart"><figcaption>Response time (ms) <span id="latency-partial" class="partial-note"></span></figcaption><div id="chart-latency" class="plot"></div></figure>
  <figure class="chart"><figcaption>Requests per minute <span id="rpm-partial" class="partial-note"></span></figcaption><div id="chart-rpm" class="plot"></div></figure>
  <figure class="chart"><figcaption>Memory (MB)</figcaption><div id="chart-memory" class="plot"></div></figure>
  <figure class="chart"><figcaption>Event-loop delay p99 (ms)</figcaption><div id="chart-eld" class="plot"></div></figure>
</section>
<section class="panel" id="compare-panel" hidden aria-label="Compare releases">
  <div class="panel-head"><h2>Compare releases</h2><span id="compare-note" class="hint"></span>
    <form id="compare-form" class="compare-form">
      <label>Base <select id="compare-base"></select></label>
      <input id="compare-base-range" type="text" placeholder="2h..1h" aria-label="Base range" hidden>
      <label>Head <select id="compare-head"></select></label>
      <input id="compare-head-range" type="text" placeholder="1h.." aria-label="Head range" hidden>
      <button type="submit">Compare</button>
    </form>
  </div>
  <div class="table-wrap"><table id="compare" class="data"></table></div>
</section>
<section class="panel" id="workers-panel" hidden>
  <div class="panel-head"><h2>Workers</h2><span class="hint">read by the cluster primary from outside; event-loop p99 from each worker's own reports</span></div>
  <div class="table-wrap"><table id="workers" class="data"></table></div>
</section>
<section class="panel" id="endpoints-panel">
  <div class="panel-head"><h2>Endpoints</h2><input id="endpoints-filter" type="search" placeholder="Filter endpoints" aria-label="Filter endpoints"></div>
  <div class="table-wrap"><table id="endpoints" class="data"></table></div>
</section>
<section class="panel" id="db-panel">
  <div class="panel-head"><h2>Database queries</h2><input id="db-filter" type="search" placeholder="Filter queries" aria-label="Filter queries"></div>
  <div class="table-wrap"><table id="db" class="data"></table></div>
</section>
<div class="two">
  <section class="panel"><div class="panel-head"><h2>Slow queries</h2></div><div class="table-wrap"><table id="slow" class="data"></table></div></section>
  <section class="panel"><div class="panel-head"><h2>Recent errors</h2></div><div class="table-wrap"><table id="errors" class="data"></table></div></section>
</div>
<section class="panel"><div class="panel-head"><h2>Recent requests</h2><span class="hint">a sample (see sampling), newest first</span></div><div class="table-wrap"><table id="recent" class="data"></table></div></section>
<footer id="footer" class="footer"></footer>`,
    true,
  )
}

/** Sign-in form (served with 401). Posting it sets an HttpOnly, SameSite=Strict cookie. */
export function loginPage(title: string, root: string, failed: boolean, problem?: string): string {
  return notice(
    title,
    root,
    'Sign in',
    `<p>This page needs the admin token (the value of <code>PERF_ADMIN_TOKEN</code> or the <code>token</code> option).</p>
${failed ? '<p class="error" role="alert">That token is not valid.</p>' : ''}${problem === undefined ? '' : `<p class="error" role="alert">${escapeHtml(problem)}</p>`}
<form method="post" action="${escapeHtml(root)}login" class="login">
  <label>Admin token <input name="token" type="password" autocomplete="current-password" required autofocus></label>
  <button type="submit">Sign in</button>
</form>`,
  )
}

/** The 403 page shown while no token and no auth hook are configured. */
export function notConfiguredPage(title: string, root: string): string {
  return notice(
    title,
    root,
    'Dashboard not configured',
    `<p>The performance dashboard is off because no admin token is set, so it would be open to anyone.</p>
<p>Set an environment variable and restart the service:</p>
<pre>PERF_ADMIN_TOKEN="$(openssl rand -hex 24)"</pre>
<p>or pass <code>token</code> (or an <code>auth(request)</code> hook) in the dashboard options. For a
development machine only, <code>allowUnauthenticatedLocalhost: true</code> serves requests from this
computer without a token, when opened as <code>localhost</code>, <code>127.0.0.1</code> or <code>[::1]</code>.</p>`,
  )
}

/** Shown instead of the dashboard when the monitor is disabled. */
export function disabledPage(title: string, root: string): string {
  return notice(
    title,
    root,
    'Monitoring is disabled',
    `<p>The monitor was created with <code>enabled: false</code> (or <code>PERF_ENABLED=false</code>), so
nothing is being measured and there is nothing to show.</p>
<p>Enable it by removing that setting (or setting <code>PERF_ENABLED=true</code>) and restarting the service.</p>`,
  )
}

/** A plain notice page, e.g. for 404 or a rejected POST. */
export function messagePage(title: string, root: string, heading: string, message: string): string {
  return notice(title, root, heading, `<p>${escapeHtml(message)}</p>`)
}
