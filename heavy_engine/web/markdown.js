// A small Markdown renderer for answers: headings, paragraphs, lists, quotes, code, tables,
// bold, italics, inline code and http(s) links. Safe by construction: every piece of text is
// HTML-escaped before any tag is added, and only http(s) URLs become links.
"use strict";

(function () {
  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function inline(raw) {
    // Code spans first, so nothing inside them is formatted.
    return raw.split(/(`[^`]+`)/).map(function (part) {
      if (/^`[^`]+`$/.test(part)) return "<code>" + escapeHtml(part.slice(1, -1)) + "</code>";
      return escapeHtml(part)
        .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
          '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>')
        .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>")
        .replace(/(^|[^\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>");
    }).join("");
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(function (c) {
      return c.trim();
    });
  }

  var LIST = { ul: /^\s*[-*+]\s+(.*)$/, ol: /^\s*\d+[.)]\s+(.*)$/ };

  function render(text) {
    var lines = text.replace(/\r\n?/g, "\n").split("\n");
    var out = [];
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var m;
      if (/^\s*```/.test(line)) {  // fenced code, to the closing fence or the end
        var code = [];
        for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        i++;
        out.push("<pre><code>" + escapeHtml(code.join("\n")) + "</code></pre>");
      } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
        var level = m[1].length;
        out.push("<h" + level + ">" + inline(m[2]) + "</h" + level + ">");
        i++;
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        out.push("<hr>");
        i++;
      } else if (/^\s*>/.test(line)) {
        var quote = [];
        for (; i < lines.length && /^\s*>/.test(lines[i]); i++) {
          quote.push(lines[i].replace(/^\s*>\s?/, ""));
        }
        out.push("<blockquote>" + render(quote.join("\n")) + "</blockquote>");
      } else if (line.indexOf("|") !== -1 && i + 1 < lines.length &&
                 /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(lines[i + 1])) {
        var head = cells(line).map(function (c) { return "<th>" + inline(c) + "</th>"; });
        var rows = [];
        for (i += 2; i < lines.length && lines[i].indexOf("|") !== -1; i++) {
          rows.push("<tr>" + cells(lines[i]).map(function (c) {
            return "<td>" + inline(c) + "</td>";
          }).join("") + "</tr>");
        }
        out.push("<table><thead><tr>" + head.join("") + "</tr></thead><tbody>" +
                 rows.join("") + "</tbody></table>");
      } else if (LIST.ul.test(line) || LIST.ol.test(line)) {
        var kind = LIST.ul.test(line) ? "ul" : "ol";
        var items = [];
        for (; i < lines.length && (m = LIST[kind].exec(lines[i])); i++) {
          items.push("<li>" + inline(m[1]) + "</li>");
        }
        out.push("<" + kind + ">" + items.join("") + "</" + kind + ">");
      } else if (!line.trim()) {
        i++;
      } else {
        var para = [];
        for (; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*>)/.test(lines[i]) &&
               !LIST.ul.test(lines[i]) && !LIST.ol.test(lines[i]); i++) {
          para.push(lines[i].trim());
        }
        out.push("<p>" + inline(para.join(" ")) + "</p>");
      }
    }
    return out.join("\n");
  }

  window.heavyMarkdown = { render: render, escapeHtml: escapeHtml };
})();
