// heavy's web page: ask, follow the run's events (SSE read with fetch, so a bearer token can be
// sent), draw one row per agent with clocks that tick, stream the synthesis rendered as it comes.
"use strict";

(function () {
  var $ = function (id) { return document.getElementById(id); };
  var TOKEN_KEY = "heavy-api-token";
  var RENDER_EVERY_MS = 150;  // the streaming synthesis is rendered again at most this often
  var FINAL = { done: true, failed: true, cancelled: true };
  var JOB_STATUS = { ok: "done", cancelled: "cancelled", failed: "failed", timeout: "failed" };
  var current = null;  // the run on screen: {id, state, abort, stopping}
  var ended = {};  // job id -> {status, elapsed_s} of runs seen ending here (the list may lag)

  // -- the API, with the server's token rules ------------------------------------------------
  function headers(extra) {
    var h = Object.assign({}, extra || {});
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  async function api(method, path, body) {
    var init = { method: method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    var resp = await fetch(path, init);
    var data = await resp.json().catch(function () { return {}; });
    if (resp.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      $("token-form").hidden = false;
      $("token").focus();
    }
    if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
    return data;
  }

  // Server-Sent Events over fetch: EventSource cannot send an Authorization header.
  async function follow(jobId, onEvent, signal) {
    var resp = await fetch("/api/jobs/" + encodeURIComponent(jobId),
      { headers: headers({ Accept: "text/event-stream" }), signal: signal });
    if (!resp.ok || !resp.body) throw new Error("could not follow the job (HTTP " + resp.status + ")");
    var reader = resp.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      var blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var type = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trim());
        });
        if (data.length) onEvent(type, JSON.parse(data.join("\n")));
      });
    }
  }

  // -- the run's state, folded from events (like heavy_engine/progress.py) --------------------
  function newState(id) {
    return { id: id, phase: "queued", started: performance.now(), agents: [], synthesis: "",
             result: null, status: "queued", error: null, finishedAt: null,
             rendered: null, renderedAt: 0 };
  }

  // The agents as the run's result records them: a job reopened after it ended still shows
  // each agent's row, status, time and tokens (`heavy serve` on SQLite keeps a job's result,
  // not its progress events; on PostgreSQL the events are replayed first and this fills gaps).
  function agentsFrom(state, agents) {
    (agents || []).forEach(function (a) {
      var known = state.agents[a.index];
      var tokens = a.usage ? a.usage.prompt_tokens + a.usage.completion_tokens : 0;
      if (!known) {
        known = state.agents[a.index] = { index: a.index, question: a.question, tool: "",
          finding: a.error || firstLine(a.answer || ""), startedAt: null };
      }
      known.status = a.status;
      known.elapsed = a.elapsed_s;
      known.tokens = tokens || known.tokens;
      known.tool = "";
    });
  }

  function firstLine(text) {
    return text.split("\n").map(function (l) { return l.replace(/^[\s#>*-]+/, "").trim(); })
      .filter(Boolean)[0] || "";
  }

  function apply(state, type, ev) {
    var now = performance.now();
    var agent = ev.index !== undefined ? state.agents[ev.index] : null;
    if (type === "status") {
      state.status = ev.status;
      state.error = ev.error;
      if (ev.status === "queued") state.phase = "queued (position " + (ev.position || "?") + ")";
    } else if (type === "accepted") {
      state.phase = "decomposing";
      state.started = now;
    } else if (type === "questions_ready") {
      state.phase = "researching";
      state.agents = ev.questions.map(function (q, i) {
        return { index: i, question: q, status: "waiting", tool: "", finding: "", tokens: 0,
                 startedAt: null, elapsed: null };
      });
    } else if (type === "agent_started" && agent) {
      agent.status = "running";
      agent.startedAt = now;
    } else if (type === "tool_called" && agent) {
      agent.tool = ev.tool + "(" + ev.arguments + ")";
    } else if (type === "tool_finished" && agent) {
      agent.tool = "";
      agent.finding = ev.tool + (ev.ok ? " ok" : " failed") + (ev.summary ? ": " + ev.summary : "");
    } else if (type === "agent_finished" && agent) {
      agent.status = ev.status;
      agent.elapsed = ev.elapsed_s;
      agent.tool = "";
      agent.tokens = ev.prompt_tokens + ev.completion_tokens;
      if (ev.error) agent.finding = ev.error;
      else if (ev.summary) agent.finding = ev.summary;
    } else if (type === "synthesis_started") {
      state.phase = "synthesising";
    } else if (type === "synthesis_delta") {
      state.synthesis += ev.text;
    } else if (type === "done") {
      state.result = ev.result;
      state.phase = ev.result.status === "ok" ? "done" : ev.result.status;
      state.finishedAt = now;
      agentsFrom(state, ev.result.agents);
    }
  }

  // -- drawing -----------------------------------------------------------------------------
  function seconds(ms) { return (ms / 1000).toFixed(1) + "s"; }

  function cell(row, text, cls) {
    var td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function draw() {
    if (!current) return;
    var s = current.state;
    var now = s.finishedAt || performance.now();
    // Once ended, the run's own clock: a job reopened later took as long as it took.
    var took = s.result ? s.result.elapsed_s.toFixed(1) + "s" : seconds(now - s.started);
    $("run").hidden = false;
    $("phase").textContent = "job " + s.id + " · " + s.phase + " · " + took;
    var body = $("agents-table").tBodies[0];
    body.textContent = "";
    s.agents.forEach(function (a) {
      if (!a) return;  // a result that lists only some agents
      var row = body.insertRow();
      row.className = "agent " + a.status;
      cell(row, String(a.index + 1));
      cell(row, a.status, "status");
      cell(row, a.question, "question");
      cell(row, a.tool, "tool").title = a.tool;
      cell(row, a.finding, "finding").title = a.finding;  // the whole line on hover
      var t = a.elapsed !== null ? a.elapsed * 1000 : (a.startedAt ? now - a.startedAt : 0);
      cell(row, seconds(t), "time");
      cell(row, a.tokens ? a.tokens.toLocaleString("en") : "", "tokens");
    });
    var r = s.result;
    drawAnswer(s);
    $("notes").textContent = "";
    $("footer").textContent = "";
    if (r) {
      (r.error ? [r.error] : []).concat(r.notes).forEach(function (n) {
        var li = document.createElement("li");
        li.textContent = n;
        $("notes").appendChild(li);
      });
      $("footer").textContent = footer(r);
    }
  }

  // The synthesis as it streams, rendered with the answer's own renderer in the answer's place
  // (throttled: a long answer is not parsed again for every word), then the final answer.
  function drawAnswer(s) {
    var answer = $("answer");
    var text = s.result ? s.result.answer || "" : s.synthesis;
    answer.hidden = !s.result && !s.synthesis;
    answer.classList.toggle("streaming", !s.result && !!s.synthesis);
    if (text === s.rendered) return;
    var t = performance.now();
    if (!s.result && t - s.renderedAt < RENDER_EVERY_MS) return;  // the ticker draws the rest
    answer.innerHTML = window.heavyMarkdown.render(text);
    s.rendered = text;
    s.renderedAt = t;
  }

  function footer(r) {  // the same line as heavy_engine/text.py's footer()
    var ok = r.agents.filter(function (a) { return a.status === "ok"; }).length;
    var u = r.usage;
    var parts = [r.models.join(", ") || "no model", ok + "/" + r.agents.length + " agents",
      r.elapsed_s.toFixed(1) + "s", (u.prompt_tokens + u.completion_tokens).toLocaleString("en") +
      " tokens", "$" + (u.cost_usd || 0).toFixed(4)];
    if (r.simulated) parts.push("simulated");
    return parts.join(" · ");
  }

  async function refreshJobs() {
    var data;
    try { data = await api("GET", "/api/jobs"); } catch (err) { return; }
    var list = $("jobs");
    list.textContent = "";
    if (!data.jobs.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "none yet";
      list.appendChild(empty);
    }
    data.jobs.forEach(function (job) {
      var mine = ended[job.id];
      if (mine && !FINAL[job.status]) {  // its end is on its way to the database
        job.status = mine.status;
        job.elapsed_s = mine.elapsed_s;
      }
      var li = document.createElement("li");
      li.dataset.id = job.id;
      li.className = "job " + job.status;
      var link = document.createElement("a");
      link.href = "#" + job.id;
      link.textContent = job.question;
      link.addEventListener("click", function (e) { e.preventDefault(); show(job.id); });
      var status = document.createElement("span");
      status.className = "job-status";
      li.append(status, " ", link);
      list.appendChild(li);
      jobStatus(li, job.status, job.elapsed_s);
    });
  }

  function jobStatus(li, status, elapsed) {
    li.className = "job " + status;
    li.querySelector(".job-status").textContent =
      status + (elapsed !== null && elapsed !== undefined ? " · " + elapsed.toFixed(1) + "s" : "");
  }

  // The run on screen has ended: its Stop button and its line in Recent jobs say so at once,
  // without waiting for the job's end to be written and the stream to close.
  function ending(run) {
    var r = run.state.result;
    var status = JOB_STATUS[r.status] || r.status;
    ended[run.id] = { status: status, elapsed_s: r.elapsed_s };
    if (current === run) {
      $("stop-button").disabled = true;
      if (run.stopping) message(status === "cancelled" ? "stopped" : "");
    }
    listed(run.id, status, r.elapsed_s);
  }

  function listed(jobId, status, elapsed) {  // the job's line in Recent jobs, if it has one
    var li = document.querySelector('#jobs li[data-id="' + CSS.escape(jobId) + '"]');
    if (li) jobStatus(li, status, elapsed);
  }

  // -- actions -----------------------------------------------------------------------------
  function message(text) { $("message").textContent = text || ""; }

  async function show(jobId) {
    if (current && current.abort) current.abort.abort();
    var run = { id: jobId, state: newState(jobId), abort: new AbortController(), stopping: false };
    current = run;
    message("");
    $("stop-button").disabled = false;
    draw();
    try {
      await follow(jobId, function (type, ev) {
        if (current !== run) return;
        apply(run.state, type, ev);
        // A streamed word changes only the answer (drawn throttled); the rest waits for the ticker.
        if (type === "synthesis_delta") drawAnswer(run.state);
        else draw();
        if (type === "done") ending(run);
        else if (type === "status" && FINAL[ev.status]) refreshJobs();  // its end is stored
        else if (type === "status" && !ended[jobId]) listed(jobId, ev.status, null);
      }, run.abort.signal);
    } catch (err) {
      if (err.name !== "AbortError") message(err.message);
    }
    if (current === run) {
      if (!run.state.result) {  // finished before we looked: the job's record has it all
        try { showRecord(run.state, await api("GET", "/api/jobs/" + encodeURIComponent(jobId))); }
        catch (err) { message(err.message); }
      }
      $("stop-button").disabled = true;
      if (run.stopping) message(run.state.status === "cancelled" ? "stopped" : "");
      draw();
    }
    refreshJobs();
  }

  function showRecord(state, job) {
    state.status = job.status;
    if (job.answer === null && !job.error) return;
    state.result = { status: job.status === "done" ? "ok" : job.status, answer: job.answer || "",
      error: job.error, notes: job.notes, models: job.models, agents: job.agents,
      elapsed_s: job.elapsed_s || 0, usage: job.usage || { prompt_tokens: 0, completion_tokens: 0 },
      simulated: job.simulated };
    state.phase = job.status;
    state.finishedAt = performance.now();
    agentsFrom(state, job.agents);
  }

  $("ask").addEventListener("submit", async function (e) {
    e.preventDefault();
    message("");
    var question = $("question").value.trim();
    var agents = parseInt($("agents").value, 10);
    if (!question) { message("Type a question first."); return; }
    if (!(agents >= 1 && agents <= 16)) { message("agents must be from 1 to 16."); return; }
    try {
      var job = await api("POST", "/api/ask", { question: question, agents: agents });
      refreshJobs();
      show(job.id);
    } catch (err) {
      message(err.message);
    }
  });

  $("stop-button").addEventListener("click", async function () {
    var run = current;
    if (!run) return;
    try {
      await api("DELETE", "/api/jobs/" + encodeURIComponent(run.id));
      run.stopping = true;
      // The run may have ended while the request was on its way.
      if (current === run) message(run.state.result ? "stopped" : "stopping…");
    } catch (err) {
      if (current === run) message(err.message);
    }
  });

  $("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    $("token-form").hidden = true;
    message("token saved for this tab; ask again");
    refreshJobs();
  });

  setInterval(function () { if (current && !current.state.finishedAt) draw(); }, 200);
  refreshJobs();
  if (location.hash.length > 1) show(location.hash.slice(1));
})();
