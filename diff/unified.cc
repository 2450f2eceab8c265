// UnifiedDiff(): line differences for people, in the format of diff -u.
#include <algorithm>
#include <cstdint>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

enum class Op : char { kKeep = ' ', kDelete = '-', kInsert = '+' };

struct Edit {
  Op op;
  size_t a;  // line index in `from` (kKeep, kDelete)
  size_t b;  // line index in `to` (kKeep, kInsert)
};

// Longest common subsequence edit script. Objects are at most a few thousand
// lines; beyond a bound the texts are treated as wholly replaced.
std::vector<Edit> EditScript(const std::vector<std::string_view>& a,
                             const std::vector<std::string_view>& b) {
  const size_t n = a.size(), m = b.size();
  // Common prefix and suffix cost nothing and shrink the table.
  size_t pre = 0;
  while (pre < n && pre < m && a[pre] == b[pre]) ++pre;
  size_t suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] == b[m - 1 - suf]) ++suf;
  const size_t an = n - pre - suf, bm = m - pre - suf;

  std::vector<Edit> edits;
  for (size_t i = 0; i < pre; ++i) edits.push_back({Op::kKeep, i, i});
  if (an * bm > 16'000'000) {
    for (size_t i = 0; i < an; ++i) edits.push_back({Op::kDelete, pre + i, 0});
    for (size_t j = 0; j < bm; ++j) edits.push_back({Op::kInsert, 0, pre + j});
  } else {
    std::vector<uint32_t> len((an + 1) * (bm + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return len[i * (bm + 1) + j]; };
    for (size_t i = an; i-- > 0;) {
      for (size_t j = bm; j-- > 0;) {
        at(i, j) =
            a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
      }
    }
    size_t i = 0, j = 0;
    while (i < an || j < bm) {
      if (i < an && j < bm && a[pre + i] == b[pre + j]) {
        edits.push_back({Op::kKeep, pre + i, pre + j});
        ++i, ++j;
      } else if (i < an && (j == bm || at(i + 1, j) >= at(i, j + 1))) {
        edits.push_back({Op::kDelete, pre + i, 0});  // removals before additions, like diff -u
        ++i;
      } else {
        edits.push_back({Op::kInsert, 0, pre + j});
        ++j;
      }
    }
  }
  for (size_t k = 0; k < suf; ++k) edits.push_back({Op::kKeep, n - suf + k, m - suf + k});
  return edits;
}

}  // namespace

std::string UnifiedDiff(std::string_view from_name, std::string_view from, std::string_view to_name,
                        std::string_view to, int context) {
  if (from == to) return {};
  auto a = Lines(from);
  auto b = Lines(to);
  std::vector<Edit> edits = EditScript(a, b);
  const size_t ctx = static_cast<size_t>(std::max(context, 0));

  std::string out = "--- " + std::string(from_name) + "\n+++ " + std::string(to_name) + "\n";
  size_t k = 0;
  while (k < edits.size()) {
    // Find the next change, then extend the hunk while changes are close.
    size_t first = k;
    while (first < edits.size() && edits[first].op == Op::kKeep) ++first;
    if (first == edits.size()) break;
    size_t start = first >= ctx ? first - ctx : 0;
    size_t end = first;
    size_t last_change = first;
    while (end < edits.size()) {
      if (edits[end].op != Op::kKeep) {
        last_change = end;
      } else if (end - last_change > 2 * ctx) {
        break;
      }
      ++end;
    }
    end = std::min(edits.size(), last_change + ctx + 1);

    size_t a_start = 0, b_start = 0, a_count = 0, b_count = 0;
    bool a_set = false, b_set = false;
    // Line numbers of the hunk: the first line each side has in it.
    size_t a_line = 0, b_line = 0;
    for (size_t e = 0; e < start; ++e) {
      if (edits[e].op != Op::kInsert) ++a_line;
      if (edits[e].op != Op::kDelete) ++b_line;
    }
    std::string body;
    for (size_t e = start; e < end; ++e) {
      const Edit& ed = edits[e];
      std::string_view text = ed.op == Op::kInsert ? b[ed.b] : a[ed.a];
      body += static_cast<char>(ed.op);
      body += text;
      body += '\n';
      if (ed.op != Op::kInsert) {
        if (!a_set) a_start = a_line + 1, a_set = true;
        ++a_count;
      }
      if (ed.op != Op::kDelete) {
        if (!b_set) b_start = b_line + 1, b_set = true;
        ++b_count;
      }
    }
    if (!a_set) a_start = a_line;  // an empty side names the line before the hunk
    if (!b_set) b_start = b_line;
    out += "@@ -" + std::to_string(a_start) + "," + std::to_string(a_count) + " +" +
           std::to_string(b_start) + "," + std::to_string(b_count) + " @@\n";
    out += body;
    k = end;
  }
  return out;
}

std::string Colorize(std::string_view unified_diff) {
  std::string out;
  for (std::string_view line : Lines(unified_diff)) {
    const char* color = nullptr;
    if (line.starts_with("---") || line.starts_with("+++")) {
      color = "\033[1m";
    } else if (line.starts_with("@@")) {
      color = "\033[36m";
    } else if (line.starts_with("-")) {
      color = "\033[31m";
    } else if (line.starts_with("+")) {
      color = "\033[32m";
    }
    if (color != nullptr) {
      out += color;
      out += line;
      out += "\033[0m\n";
    } else {
      out += line;
      out += '\n';
    }
  }
  return out;
}

namespace {

std::string Shown(const std::string& value, bool secret) {
  if (value.empty()) return "(none)";
  if (secret) return "(a value)";
  if (value.size() <= kMaxFieldValue) return value;
  size_t cut = kMaxFieldValue;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return value.substr(0, cut) + "…";
}

}  // namespace

std::vector<std::string> FieldLines(const ObjectKey& key, const std::vector<FieldChange>& changes) {
  const bool secret = key.group.empty() && key.kind == "Secret";
  std::vector<std::string> out;
  for (const FieldChange& c : changes) {
    if (out.size() == kMaxFieldLines) {
      out.push_back("… " + std::to_string(changes.size() - kMaxFieldLines) + " more");
      break;
    }
    out.push_back(c.path + ": " + Shown(c.live, secret) + " -> " + Shown(c.desired, secret));
  }
  return out;
}

}  // namespace pagoda::diff
