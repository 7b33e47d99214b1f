// The datafast viewer: records, dropped records, run summary and report of one output file, all from the
// JSON embedded in this page (datafast/outputs/viewer.py writes it). Only the current page of a table is
// rendered; filters and search run over the columns as arrays, so 100k records stay fast.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("viewer-data").textContent);
  const number = new Intl.NumberFormat("en");
  const CHIP_PRIORITY = ["reason", "label", "language", "model_id"];
  const PAGE_SIZES = [25, 50, 100, 200];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function shown(value) {
    if (value === null) return "null";
    if (typeof value === "string") return value;
    if (typeof value === "number") return Number.isInteger(value) ? number.format(value) : String(value);
    return JSON.stringify(value);
  }

  function textOf(value) {
    if (typeof value === "string") return value;
    if (Array.isArray(value)) {
      return value.map((item) => (item && typeof item === "object" && "content" in item)
        ? `${item.role || "message"}: ${textOf(item.content)}` : textOf(item)).join("\n");
    }
    if (value === undefined || value === null) return "";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  // -- one set of records, as columns ---------------------------------------------------------------------

  class Columns {
    constructor(encoded, textFields) {
      this.n = encoded ? encoded.count : 0;
      this.columns = encoded ? encoded.columns : [];
      for (const column of this.columns) {
        column.absentSet = column.absent ? new Set(column.absent) : null;
        column.title = column.path.length > 1 ? `{{${column.name}}}` : column.name;
      }
      const top = new Map(this.columns.filter((c) => c.path.length === 1).map((c) => [c.name, c]));
      this.textColumns = textFields.filter((f) => top.has(f)).map((f) => top.get(f));
      if (!this.textColumns.length) {
        this.textColumns = this.columns.filter((c) => c.kind === "raw" && c.path.length === 1 &&
          !["uuid", "request_id", "metadata"].includes(c.name)).slice(0, 1);
      }
      this.uuid = top.get("uuid") || null;
      this.haystack = null;
    }

    value(column, i) {
      if (column.kind === "category") {
        const code = column.codes[i];
        return code < 0 ? undefined : column.values[code];
      }
      return column.absentSet && column.absentSet.has(i) ? undefined : column.values[i];
    }

    record(i) {
      const record = {};
      for (const column of this.columns) {
        const value = this.value(column, i);
        if (value === undefined) continue;
        if (column.path.length === 1) record[column.name] = value;
        else (record[column.path[0]] = record[column.path[0]] || {})[column.path[1]] = value;
      }
      return record;
    }

    text(i) {
      return this.textColumns.map((c) => textOf(this.value(c, i))).filter((t) => t).join("\n");
    }

    // Lower-cased text (and uuid) of every record, made on the first search only.
    searchText() {
      if (!this.haystack) {
        const hay = new Array(this.n);
        for (let i = 0; i < this.n; i++) {
          const id = this.uuid ? this.value(this.uuid, i) : "";
          hay[i] = (this.text(i) + "\n" + (id || "")).toLowerCase();
        }
        this.haystack = hay;
      }
      return this.haystack;
    }

    // The columns to filter by: categories of 2+ values, the usual ones first, then placeholders (but those
    // that repeat a field, as {{label_name}} the label).
    categories() {
      const found = this.columns.filter((c) => c.kind === "category" && c.values.length >= 2 && !c.repeats);
      return found.sort((a, b) => rank(a) - rank(b));
    }
  }

  // -- a searchable, filterable, paged table of one set of records ----------------------------------------

  class Browser {
    constructor(root, columns, kind) {
      this.root = root;
      this.data = columns;
      this.kind = kind;
      this.size = 50;
      this.page = 0;
      this.query = "";
      this.filters = new Map(); // column -> selected code
      this.matches = null;
      this.build();
      this.apply();
    }

    build() {
      const data = this.data;
      if (!data.n) {
        this.root.append(el("div", { class: "empty", text: this.kind === "dropped"
          ? `No dropped records (${DATA.dropped_file}).` : `No records in ${DATA.file}.` }));
        return;
      }
      const controls = el("div", { class: "controls" });
      this.search = el("input", { type: "search", class: "search", "aria-label": "search",
        placeholder: `Search the ${data.textColumns.map((c) => c.name).join(", ") || "text"} (and uuid)…` });
      let timer = 0;
      this.search.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => { this.query = this.search.value.trim().toLowerCase(); this.apply(); }, 120);
      });
      controls.append(this.search);
      this.selects = [];
      for (const column of data.categories()) {
        const counts = new Array(column.values.length).fill(0);
        for (const code of column.codes) if (code >= 0) counts[code]++;
        const order = column.values.map((_, k) => k).sort((a, b) => counts[b] - counts[a]);
        const select = el("select", { "data-column": column.title, "aria-label": `filter by ${column.title}` },
          el("option", { value: "", text: `${column.title}: all` }));
        for (const k of order) {
          const label = shown(column.values[k]);
          select.append(el("option", { value: String(k),
            text: `${label.length > 70 ? label.slice(0, 69) + "…" : label} (${number.format(counts[k])})` }));
        }
        select.addEventListener("change", () => {
          if (select.value === "") this.filters.delete(column);
          else this.filters.set(column, Number(select.value));
          select.classList.toggle("active", select.value !== "");
          this.apply();
        });
        this.selects.push(select);
        controls.append(select);
      }
      controls.append(el("button", { type: "button", class: "clear", text: "Clear", onclick: () => this.clear() }));
      const sizes = el("select", { class: "page-size", "aria-label": "records per page" });
      for (const size of PAGE_SIZES) {
        sizes.append(el("option", { value: String(size), text: `${size} per page`, selected: size === this.size }));
      }
      sizes.addEventListener("change", () => { this.size = Number(sizes.value); this.page = 0; this.render(); });
      controls.append(sizes);

      this.status = el("div", { class: "status", "aria-live": "polite" });
      this.pageInput = el("input", { type: "number", min: "1", class: "page-number", "aria-label": "page" });
      this.pageInput.addEventListener("change", () => this.go(Number(this.pageInput.value) - 1));
      this.pageCount = el("span", { class: "page-count" });
      this.buttons = {
        first: el("button", { type: "button", class: "first", title: "first page", text: "«", onclick: () => this.go(0) }),
        prev: el("button", { type: "button", class: "prev", title: "previous page", text: "‹ Prev",
          onclick: () => this.go(this.page - 1) }),
        next: el("button", { type: "button", class: "next", title: "next page", text: "Next ›",
          onclick: () => this.go(this.page + 1) }),
        last: el("button", { type: "button", class: "last", title: "last page", text: "»",
          onclick: () => this.go(Infinity) }),
      };
      const pager = el("div", { class: "pager" }, this.buttons.first, this.buttons.prev, "Page", this.pageInput,
        this.pageCount, this.buttons.next, this.buttons.last);
      const bar = el("div", { class: "bar" }, this.status, pager);

      const chips = data.categories().filter((c) => c.path.length === 1 && c.values.length <= 50 &&
        !["prompt_template", "dataset_type", "reason"].includes(c.name));
      const reason = data.columns.find((c) => c.name === "reason" && c.path.length === 1);
      this.chips = [...(reason ? [reason] : []), ...chips.slice(0, 4)];
      const head = el("tr", null, el("th", { class: "num", text: "#" }),
        ...this.chips.map((c) => el("th", { class: c.name === "reason" ? "chip-col reason-col" : "chip-col", text: c.title })),
        el("th", { text: data.textColumns.map((c) => c.name).join(" · ") || "text" }));
      this.body = el("tbody");
      this.body.addEventListener("click", (event) => {
        const row = event.target.closest("tr[data-at]");
        if (row) detail.open(this, Number(row.dataset.at));
      });
      this.body.addEventListener("keydown", (event) => {
        const row = event.target.closest("tr[data-at]");
        if (row && event.key === "Enter") detail.open(this, Number(row.dataset.at));
      });
      this.table = el("table", { class: "rows" }, el("thead", null, head), this.body);
      this.nothing = el("div", { class: "empty", hidden: true, text: "No record matches." });
      this.root.append(controls, bar, this.table, this.nothing);
    }

    clear() {
      this.filters.clear();
      for (const select of this.selects) { select.value = ""; select.classList.remove("active"); }
      this.search.value = "";
      this.query = "";
      this.apply();
    }

    apply() {
      const n = this.data.n;
      if (!n) return;
      const active = [...this.filters].map(([column, code]) => [column.codes, code]);
      const hay = this.query ? this.data.searchText() : null;
      const query = this.query;
      const out = new Int32Array(n);
      let m = 0;
      outer: for (let i = 0; i < n; i++) {
        for (let f = 0; f < active.length; f++) if (active[f][0][i] !== active[f][1]) continue outer;
        if (hay !== null && !hay[i].includes(query)) continue;
        out[m++] = i;
      }
      this.matches = out.subarray(0, m);
      this.page = 0;
      this.render();
    }

    pages() {
      return Math.max(1, Math.ceil(this.matches.length / this.size));
    }

    go(page) {
      this.page = Math.min(Math.max(0, Number.isFinite(page) ? page : this.pages() - 1), this.pages() - 1);
      this.render();
    }

    render() {
      const total = this.matches.length;
      const start = this.page * this.size;
      const end = Math.min(total, start + this.size);
      const what = this.kind === "dropped" ? "dropped records" : "records";
      const filtered = total !== this.data.n ? ` matching (of ${number.format(this.data.n)})` : "";
      this.status.textContent = total
        ? `${number.format(start + 1)}–${number.format(end)} of ${number.format(total)} ${what}${filtered}`
        : `0 of ${number.format(this.data.n)} ${what}`;
      this.pageInput.value = String(this.page + 1);
      this.pageInput.max = String(this.pages());
      this.pageCount.textContent = `of ${number.format(this.pages())}`;
      this.buttons.first.disabled = this.buttons.prev.disabled = this.page === 0;
      this.buttons.next.disabled = this.buttons.last.disabled = this.page >= this.pages() - 1;
      const rows = [];
      for (let at = start; at < end; at++) {
        const i = this.matches[at];
        const text = this.data.text(i);
        rows.push(el("tr", { "data-at": String(at), "data-index": String(i), tabindex: "0" },
          el("td", { class: "num", text: number.format(i + 1) }),
          ...this.chips.map((c) => {
            const value = this.data.value(c, i);
            return el("td", null, value === undefined ? "" : el("span", {
              class: c.name === "reason" ? "chip reason" : "chip", title: shown(value), text: shown(value) }));
          }),
          el("td", { class: "text" }, el("div", { class: "clip", text: text.length > 600 ? text.slice(0, 600) + "…" : text }))));
      }
      this.body.replaceChildren(...rows);
      this.table.hidden = total === 0;
      this.nothing.hidden = total !== 0;
    }
  }

  function rank(column) {
    const k = column.path.length > 1 ? -1 : CHIP_PRIORITY.indexOf(column.name);
    return k >= 0 ? k : CHIP_PRIORITY.length + (column.path.length > 1 ? 1 : 0);
  }

  // -- one record, in full --------------------------------------------------------------------------------

  const detail = {
    overlay: document.getElementById("detail"),
    title: document.getElementById("detail-title"),
    body: document.getElementById("detail-body"),
    browser: null,
    at: 0,

    open(browser, at) {
      this.browser = browser;
      this.at = at;
      const i = browser.matches[at];
      const record = browser.data.record(i);
      const dropped = browser.kind === "dropped";
      this.title.textContent = `${dropped ? "Dropped record" : "Record"} ${number.format(i + 1)} of ` +
        `${number.format(browser.data.n)} (match ${number.format(at + 1)} of ${number.format(browser.matches.length)})`;
      const parts = [];
      if (dropped) parts.push(el("div", { class: "banner reason", text: `Dropped: ${shown(record.reason)}` }));
      const textNames = browser.data.textColumns.map((c) => c.name);
      const first = [...textNames, ...CHIP_PRIORITY.filter((k) => k !== "reason" && !textNames.includes(k))];
      const order = [...first, ...Object.keys(record).filter((k) => !first.includes(k) && k !== "reason")];
      for (const key of order) {
        if (!(key in record)) continue;
        parts.push(field(key, record[key], textNames.includes(key)));
      }
      this.body.replaceChildren(...parts);
      this.body.scrollTop = 0;
      document.getElementById("detail-prev").disabled = at === 0;
      document.getElementById("detail-next").disabled = at >= browser.matches.length - 1;
      this.overlay.hidden = false;
      document.getElementById("detail-close").focus();
    },

    step(by) {
      if (this.overlay.hidden || !this.browser) return;
      const at = this.at + by;
      if (at < 0 || at >= this.browser.matches.length) return;
      const page = Math.floor(at / this.browser.size);
      if (page !== this.browser.page) this.browser.go(page);
      this.open(this.browser, at);
    },

    close() {
      this.overlay.hidden = true;
      const row = this.browser && this.browser.body.querySelector(`tr[data-at="${this.at}"]`);
      if (row) row.focus();
    },
  };

  function field(key, value, isText) {
    let content;
    if (Array.isArray(value) && value.length && value.every((m) => m && typeof m === "object" && "content" in m)) {
      content = el("div", { class: "value" }, ...value.map((m) => el("div", { class: `turn ${m.role || ""}` },
        el("span", { class: "role", text: m.role || "message" }), textOf(m.content))));
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      content = keys.length
        ? el("table", { class: "kv value" }, ...keys.map((k) => el("tr", null, el("th", { text: k }),
          el("td", null, typeof value[k] === "object" && value[k] !== null ? el("pre", { text: JSON.stringify(value[k], null, 2) }) : shown(value[k])))))
        : el("div", { class: "value note", text: "(none)" });
    } else if (Array.isArray(value)) {
      content = el("pre", { class: "value long", text: JSON.stringify(value, null, 2) });
    } else {
      const long = isText || (typeof value === "string" && (value.length > 80 || value.includes("\n")));
      content = el("div", { class: long ? "value long" : "value", text: shown(value) });
    }
    return el("div", { class: "field", "data-field": key }, el("div", { class: "key", text: key }), content);
  }

  document.getElementById("detail-close").addEventListener("click", () => detail.close());
  document.getElementById("detail-prev").addEventListener("click", () => detail.step(-1));
  document.getElementById("detail-next").addEventListener("click", () => detail.step(1));
  detail.overlay.addEventListener("click", (event) => { if (event.target === detail.overlay) detail.close(); });
  document.addEventListener("keydown", (event) => {
    if (detail.overlay.hidden) return;
    if (event.key === "Escape") detail.close();
    else if (event.key === "ArrowLeft") detail.step(-1);
    else if (event.key === "ArrowRight") detail.step(1);
  });

  // -- the run and its report -----------------------------------------------------------------------------

  function card(big, small) {
    return el("div", { class: "card" }, el("div", { class: "big", text: big }), el("div", { class: "small", text: small }));
  }

  function grid(headers, rows) {
    return el("table", { class: "grid-table" }, el("thead", null, el("tr", null, ...headers.map((h) => el("th", { text: h })))),
      el("tbody", null, ...rows.map((row) => el("tr", null, ...row.map((cell) => el("td", { text: cell }))))));
  }

  function tree(value) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (!keys.length) return el("span", { class: "note", text: "(none)" });
      return el("table", { class: "kv" }, ...keys.map((k) => el("tr", null, el("th", { text: k }), el("td", null, tree(value[k])))));
    }
    return document.createTextNode(Array.isArray(value) ? JSON.stringify(value) : shown(value));
  }

  function figure(x, digits = 3) {
    return typeof x === "number" ? (Number.isInteger(x) ? number.format(x) : x.toFixed(digits)) : "–";
  }

  function buildRun(root) {
    const summary = DATA.summary;
    const report = DATA.report;
    const droppedTotal = DATA.dropped ? DATA.dropped.count : 0;
    const cards = el("div", { class: "cards" }, card(number.format(DATA.records.count), "records kept"),
      card(number.format(droppedTotal), "records dropped"));
    if (summary) {
      const run = summary.this_run || {};
      const whole = summary.whole_run || {};
      if (summary.requests_total !== undefined) cards.append(card(number.format(summary.requests_total), "requests"));
      const tokens = (whole.prompt_tokens || 0) + (whole.completion_tokens || 0);
      if (tokens) cards.append(card(number.format(tokens), "tokens (whole run)"));
      const cost = whole.cost_usd !== undefined ? whole.cost_usd : run.cost_usd;
      if (cost !== undefined && cost !== null) {
        cards.append(card(Number(cost) === 0 ? "$0" : `$${Number(cost).toFixed(4)}`, "cost (whole run)"));
      }
      if (run.wall_seconds !== undefined) cards.append(card(`${Number(run.wall_seconds).toFixed(1)} s`, "last run's time"));
    }
    root.append(el("h3", { text: "Run" }), cards);
    const reasons = (summary && summary.records_dropped) || {};
    if (Object.keys(reasons).length) {
      root.append(el("h3", { text: "Dropped by reason" }),
        grid(["reason", "records"], Object.entries(reasons).map(([r, n]) => [r, number.format(n)])));
    }
    if (report) {
      const d = report.diversity || {};
      root.append(el("h3", { text: "Report" }), grid(["figure", "value"], [
        ["records", figure(report.total)],
        ["text fields", (report.text_fields || []).join(", ")],
        ["distinct-1 / 2 / 3", `${figure(d.distinct_1)} / ${figure(d.distinct_2)} / ${figure(d.distinct_3)}`],
        ["near-duplicate rate", d.near_duplicate_rate !== undefined
          ? `${(100 * d.near_duplicate_rate).toFixed(2)}% (${figure(d.near_duplicates)} at Jaccard ≥ ${d.near_duplicate_threshold})` : "–"],
        ["empty texts", figure(report.empty_texts)],
      ]));
      const stats = ["min", "p10", "p25", "median", "mean", "p75", "p90", "max"];
      const length = report.length || {};
      const rows = Object.keys(length).map((unit) => [unit, ...stats.map((s) => figure(length[unit][s], 1))]);
      if (rows.length) root.append(el("h3", { text: "Lengths" }), grid(["", ...stats], rows));
      const models = report.per_model || {};
      if (Object.keys(models).length) {
        root.append(el("h3", { text: "Per model" }), grid(["model", "records", "median words", "distinct-2", "near-duplicates"],
          Object.entries(models).map(([m, f]) => [m, figure(f.records), figure((f.words || {}).median, 1),
            figure(f.distinct_2), f.near_duplicate_rate !== undefined ? `${(100 * f.near_duplicate_rate).toFixed(2)}%` : "–"])));
      }
    }
    const plots = Object.entries(DATA.plots || {});
    if (plots.length) {
      root.append(el("h3", { text: "Plots" }), el("div", { class: "plots" }, ...plots.map(([name, uri]) =>
        el("figure", null, el("img", { src: uri, alt: name }), el("figcaption", { text: name })))));
    }
    if (DATA.notes.length) root.append(el("h3", { text: "Notes" }), el("ul", { class: "note" }, ...DATA.notes.map((n) => el("li", { text: n }))));
    if (summary) root.append(el("details", null, el("summary", { text: "summary.json" }), tree(summary)));
    if (report) root.append(el("details", null, el("summary", { text: "report.json" }), tree(report)));
  }

  // -- the page -------------------------------------------------------------------------------------------

  const tabs = [...document.querySelectorAll(".tabs button")];
  function show(name) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      document.getElementById(tab.dataset.tab).hidden = !on;
    }
  }
  for (const tab of tabs) tab.addEventListener("click", () => { show(tab.dataset.tab); history.replaceState(null, "", `#${tab.dataset.tab}`); });

  document.getElementById("file-name").textContent = DATA.file;
  const droppedCount = DATA.dropped ? DATA.dropped.count : 0;
  document.getElementById("subtitle").textContent = `${number.format(DATA.records.count)} records, ` +
    `${number.format(droppedCount)} dropped · run folder ${DATA.folder} · page made ${DATA.made}`;
  document.getElementById("count-records").textContent = number.format(DATA.records.count);
  document.getElementById("count-dropped").textContent = number.format(droppedCount);
  const browsers = {
    records: new Browser(document.getElementById("records"), new Columns(DATA.records, DATA.text_fields), "records"),
    dropped: new Browser(document.getElementById("dropped"), new Columns(DATA.dropped, DATA.text_fields), "dropped"),
  };
  buildRun(document.getElementById("run"));
  const initial = location.hash.slice(1);
  show(["records", "dropped", "run"].includes(initial) ? initial : "records");
  window.datafastViewer = { browsers, readyAt: performance.now() };
  document.documentElement.dataset.ready = "true";
})();
