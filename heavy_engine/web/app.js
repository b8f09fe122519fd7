// heavy's web page: ask, follow the run's events (SSE read with fetch, so a bearer token can be
// sent), draw one row per agent with clocks that tick, stream the synthesis, render the answer.
"use strict";

(function () {
  var $ = function (id) { return document.getElementById(id); };
  var TOKEN_KEY = "heavy-api-token";
  var current = null;  // the run on screen: {id, state, abort}

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
             result: null, status: "queued", error: null, finishedAt: null };
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
    $("run").hidden = false;
    $("phase").textContent = "job " + s.id + " · " + s.phase + " · " + seconds(now - s.started);
    var body = $("agents-table").tBodies[0];
    body.textContent = "";
    s.agents.forEach(function (a) {
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
    $("synthesis").hidden = !s.synthesis || !!r;
    $("synthesis").textContent = s.synthesis;
    $("answer").hidden = !r;
    $("notes").textContent = "";
    $("footer").textContent = "";
    if (r) {
      $("answer").innerHTML = window.heavyMarkdown.render(r.answer || "");
      (r.error ? [r.error] : []).concat(r.notes).forEach(function (n) {
        var li = document.createElement("li");
        li.textContent = n;
        $("notes").appendChild(li);
      });
      $("footer").textContent = footer(r);
    }
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
      var li = document.createElement("li");
      li.className = "job " + job.status;
      var link = document.createElement("a");
      link.href = "#" + job.id;
      link.textContent = job.question;
      link.addEventListener("click", function (e) { e.preventDefault(); show(job.id); });
      var status = document.createElement("span");
      status.className = "job-status";
      status.textContent = job.status + (job.elapsed_s !== null ? " · " + job.elapsed_s.toFixed(1) + "s" : "");
      li.append(status, " ", link);
      list.appendChild(li);
    });
  }

  // -- actions -----------------------------------------------------------------------------
  function message(text) { $("message").textContent = text || ""; }

  async function show(jobId) {
    if (current && current.abort) current.abort.abort();
    var run = { id: jobId, state: newState(jobId), abort: new AbortController() };
    current = run;
    $("stop-button").disabled = false;
    draw();
    try {
      await follow(jobId, function (type, ev) { apply(run.state, type, ev); draw(); },
                   run.abort.signal);
    } catch (err) {
      if (err.name !== "AbortError") message(err.message);
    }
    if (current === run) {
      if (!run.state.result) {  // finished before we looked: the job's record has it all
        try { showRecord(run.state, await api("GET", "/api/jobs/" + encodeURIComponent(jobId))); }
        catch (err) { message(err.message); }
      }
      $("stop-button").disabled = true;
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
    if (!current) return;
    try { await api("DELETE", "/api/jobs/" + encodeURIComponent(current.id)); message("stopping…"); }
    catch (err) { message(err.message); }
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
