#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate section-3 man pages from the Doxygen comments of the public headers.

One page per public function (every SHMAP_API declaration) named after the
function, one overview page per header (shmap-<header>.3: its @file text,
its functions and constants) and shmap.3 listing the headers.

usage:
  gen-man3.py --list HEADER...                    print the page file names
  gen-man3.py --outdir DIR [--version V] HEADER...  write the pages

Python 3 standard library only. The output is deterministic (no dates).
"""
import os
import re
import sys

DECL_RE = re.compile(r"\bSHMAP_API\b(.*?);", re.S)
FUNC_RE = re.compile(r"\b(shmap_[A-Za-z0-9_]+)\s*\(")
ENUM_RE = re.compile(r"^(SHMAP_[A-Z0-9_]+)\s*=\s*(-?[0-9]+),?\s*/\*\*<\s*(.*?)\s*\*/\s*$")
DEFINE_RE = re.compile(r"^#define\s+(SHMAP_[A-Z0-9_]+)\s+(.*?)\s*/\*\*<\s*(.*?)\s*\*/\s*$")


# Structs of the public headers (`typedef struct NAME { ... } NAME;` with the
# doc comment right above), by name, and the text of common.h's "Statistics
# structs" group: a function page whose prototype uses such a struct shows
# its definition and, for a statistics struct, the rules.
STRUCTS = {}
STATS_RULES = [""]
STRUCT_RE = re.compile(r"typedef struct (\w+) \{(.*?)\} (\w+);", re.S)
FIELD_RE = re.compile(r"([^;{}/]+;)\s*(?:/\*\*<(.*?)\*/)?", re.S)


class Struct:
    def __init__(self, name, doc, fields):
        self.name, self.doc, self.fields = name, doc, fields

    def lines(self):
        """The definition as C text, one field a line with its comment."""
        out = ["typedef struct %s {" % self.name]
        for decl, comment in self.fields:
            line = "    " + " ".join(decl.split())
            if comment:
                line = "%-28s /* %s */" % (line, " ".join(comment.split()))
            out.append(line)
        out.append("} %s;" % self.name)
        return out


def code_blocks(doc):
    """@code ... @endcode -> 4-space indented lines (preformatted in roff)."""
    out, in_code = [], False
    for line in doc.split("\n"):
        s = line.strip()
        if s.startswith("@code"):
            in_code = True
            continue
        if s.startswith("@endcode"):
            in_code = False
            continue
        out.append("    " + line if in_code else line)
    return "\n".join(out)


class Func:
    def __init__(self, name, decl, doc, header):
        self.name, self.decl, self.doc, self.header = name, decl, doc, header


class Header:
    def __init__(self, path):
        self.path = path
        self.base = os.path.basename(path)
        if self.base.endswith(".in"):
            self.base = self.base[:-3]
        self.stem = self.base[:-2] if self.base.endswith(".h") else self.base
        self.file_doc = ""
        self.funcs = []
        self.consts = []
        self.parse(open(path, encoding="utf-8").read())

    def parse(self, text):
        # Doc comments and SHMAP_API declarations in file order; a declaration
        # takes the doc comment that ends right before it (whitespace only).
        tokens = []
        for m in re.finditer(r"/\*\*(?!<)(.*?)\*/", text, re.S):
            tokens.append((m.start(), m.end(), "doc", m.group(1)))
        for m in DECL_RE.finditer(text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if text[line_start:m.start()].strip().startswith("#"):
                continue  # the #define of SHMAP_API itself
            tokens.append((m.start(), m.end(), "decl", m.group(1)))
        tokens.sort()
        last_doc = None
        for start, end, kind, body in tokens:
            if kind == "doc":
                doc = clean_comment(body)
                if "@file" in doc and not self.file_doc:
                    self.file_doc = doc
                    last_doc = None
                else:
                    last_doc = (end, doc)
                continue
            fm = FUNC_RE.search(body)
            if not fm:
                continue
            doc = ""
            if last_doc and text[last_doc[0]:start].strip() == "":
                doc = last_doc[1]
            decl = " ".join(body.split())
            self.funcs.append(Func(fm.group(1), decl, doc, self))
            last_doc = None
        for m in STRUCT_RE.finditer(text):
            doc = ""
            d_end = text.rfind("*/", 0, m.start())
            d_start = text.rfind("/**", 0, d_end)
            if d_end >= 0 and d_start >= 0 and text[d_end + 2:m.start()].strip() == "":
                doc = clean_comment(text[d_start + 3:d_end])
            fields = [(f.group(1), f.group(2) or "") for f in FIELD_RE.finditer(m.group(2))]
            STRUCTS[m.group(3)] = Struct(m.group(3), doc, fields)
        g = re.search(r"/\*\*\s*\n\s*\*\s*@name Statistics structs(.*?)\*/", text, re.S)
        if g:
            STATS_RULES[0] = code_blocks(clean_comment(g.group(1)))
        for line in text.splitlines():
            m = DEFINE_RE.match(line.strip()) or ENUM_RE.match(line.strip())
            if m:
                self.consts.append((m.group(1), m.group(2), m.group(3)))
        # Constants documented by a /** ... */ line right above them.
        for m in re.finditer(r"/\*\*(?!<)([^\n]*?)\*/\s*\n#define\s+(SHMAP_[A-Z0-9_]+)\s+([^\n]*)", text):
            doc = m.group(1).strip()
            if doc.startswith("@") or not doc:
                continue
            self.consts.append((m.group(2), m.group(3).strip(), doc))

    def page_name(self):
        return "shmap-%s" % self.stem


def clean_comment(body):
    lines = []
    for line in body.split("\n"):
        s = line.rstrip()
        s = re.sub(r"^\s*\* ?", "", s, count=1) if re.match(r"^\s*\*", s) else s.strip()
        lines.append(s)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


# ---- Doxygen/markdown text -> roff ----

def esc(s):
    """Escape plain text for roff."""
    s = s.replace("\\", "\\e")
    s = s.replace("-", "\\-")
    return s


def inline(s, refs=None):
    s = esc(s)
    s = re.sub(r"::(SHMAP_[A-Z0-9_]+)", r"\\fB\1\\fR", s)
    s = re.sub(r"::(shmap_[a-z0-9_]+)", r"\\fI\1\\fR", s)
    s = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", s)
    s = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", s)
    s = re.sub(r"(?<![\w*])\*(\w[^*]*?)\*(?![\w*])", r"\\fI\1\\fR", s)
    s = re.sub(r"@p\s+(\w+)", r"\\fI\1\\fR", s)
    s = re.sub(r"@ref\s+", "", s)

    def fn(m):
        if refs is not None:
            refs.add(m.group(1).replace("\\e", "\\").replace("\\-", "-"))
        return "\\fB%s\\fR()" % m.group(1)
    s = re.sub(r"\b(shmap_[a-z0-9_]+)\(\)", fn, s)
    return s


def line_out(s):
    """A text line must not start with a control character."""
    if s.startswith(".") or s.startswith("'"):
        return "\\&" + s
    return s


def render_text(text, refs):
    """Free text (after tags are removed) -> roff lines."""
    out = []
    in_pre = False
    for raw in text.split("\n"):
        stripped = raw.strip()
        if raw.startswith("    ") and stripped and not stripped.startswith(("- ", "* ")):
            if not in_pre:
                out += [".PP", ".RS 4", ".nf"]
                in_pre = True
            out.append(line_out(esc(raw[4:])))
            continue
        if in_pre:
            out += [".fi", ".RE"]
            in_pre = False
        if not stripped:
            if out and out[-1] != ".PP":
                out.append(".PP")
            continue
        if stripped.startswith(("- ", "* ")) and not stripped.startswith("**"):
            out += [".IP \\(bu 2", line_out(inline(stripped[2:], refs))]
            continue
        out.append(line_out(inline(stripped, refs)))
    if in_pre:
        out += [".fi", ".RE"]
    while out and out[-1] == ".PP":
        out.pop()
    while out and out[0] == ".PP":
        out.pop(0)
    return out


def split_doc(doc):
    """Doc comment -> brief, body text, params [(name, dir, text)], return text."""
    brief, body, params, ret = [], [], [], []
    cur = body
    for line in doc.split("\n"):
        s = line.strip()
        if s.startswith(("@name", "@{", "@}", "@file", "@ingroup", "@defgroup")):
            continue
        m = re.match(r"@brief\s*(.*)", s)
        if m:
            brief.append(m.group(1))
            cur = brief
            continue
        m = re.match(r"@param(\[[a-z,]+\])?\s+(\w+)\s*(.*)", s)
        if m:
            params.append([m.group(2), (m.group(1) or "").strip("[]"), [m.group(3)]])
            cur = params[-1][2]
            continue
        m = re.match(r"@returns?\s*(.*)", s)
        if m:
            ret.append(m.group(1))
            cur = ret
            continue
        if not s and cur is not body:
            # a blank line ends a tag paragraph
            cur = body
            body.append("")
            continue
        if cur is brief or cur is ret or (params and cur is params[-1][2]):
            cur.append(s)
        else:
            body.append(line)
    if not brief:
        # First sentence of the body serves as the brief.
        first = []
        while body and body[0].strip():
            first.append(body.pop(0).strip())
        brief = first
    return " ".join(brief).strip(), "\n".join(body).strip("\n"), params, " ".join(ret).strip()


def short(brief):
    """NAME-line description: the first sentence, without a final period."""
    s = re.split(r"(?<=[a-z0-9)])\.\s", brief + " ", maxsplit=1)[0].strip()
    return s.rstrip(".") or "shmap function"


def synopsis(decl, name):
    """Prototype with the function name bold and parameter names italic."""
    m = re.match(r"(.*?)\b%s\s*\((.*)\)\s*$" % re.escape(name), decl, re.S)
    if not m:
        return [line_out(esc(decl) + ";")]
    ret, args = m.group(1).strip(), m.group(2)
    parts = [a.strip() for a in args.split(",")]
    fmt = []
    for a in parts:
        am = re.match(r"(.*?)(\w+)$", a)
        if am and a not in ("void",) and am.group(1).strip():
            fmt.append("%s\\fI%s\\fR" % (esc(am.group(1)), am.group(2)))
        else:
            fmt.append(esc(a))
    sep = "" if ret.endswith("*") else " "
    head = "%s%s\\fB%s\\fR(" % (esc(ret), sep, name)
    lines, cur = [], head
    for i, f in enumerate(fmt):
        piece = f + (", " if i + 1 < len(fmt) else ");")
        if len(re.sub(r"\\f[BIR]", "", cur + piece)) > 78 and cur.strip() and cur != head:
            lines.append(cur.rstrip())
            cur = " " * 8 + piece
        else:
            cur += piece
    lines.append(cur)
    return [line_out(l) for l in lines]


def th(title, version):
    return '.TH %s 3 "" "shmap %s" "shmap Library Functions"' % (title.upper().replace("-", "\\-"),
                                                                     version)


def func_page(f, version):
    refs = set()
    brief, body, params, ret = split_doc(f.doc)
    out = [".\\\" Generated from include/shmap/%s by gen-man3.py; do not edit." % f.header.base,
           th(f.name, version), ".SH NAME", "%s \\- %s" % (esc(f.name), inline(short(brief) if brief
                                                             else "shmap function"))]
    out += [".SH LIBRARY", "shmap library (\\fIlibshmap\\fR, \\fI\\-lshmap\\fR)"]
    out += [".SH SYNOPSIS", ".nf", "\\fB#include <shmap/%s>\\fR" % f.header.base, ".PP"]
    out += synopsis(f.decl, f.name)
    used = [STRUCTS[n] for n in sorted(STRUCTS) if re.search(r"\b%s\b" % n, f.decl)]
    for st in used:
        out += [".PP"] + [line_out(esc(l)) for l in st.lines()]
    out += [".fi", ".SH DESCRIPTION"]
    desc = render_text(brief, refs) if brief else []
    if body.strip():
        desc += [".PP"] + render_text(body, refs)
    if not desc:
        desc = ["See \\fB%s\\fR(3)." % f.header.page_name()]
    out += desc
    if params:
        out.append(".SH PARAMETERS")
        for pname, pdir, ptext in params:
            label = "\\fI%s\\fR" % pname + (" [%s]" % pdir if pdir else "")
            out += [".TP", label] + render_text(" ".join(t.strip() for t in ptext), refs)
    if ret:
        out += [".SH RETURN VALUE"] + render_text(ret, refs)
    for st in used:
        text = st.doc
        if st.name.endswith("stats_t") and STATS_RULES[0]:
            text += "\n\n" + STATS_RULES[0]
        if text.strip():
            out += [".SH %s" % esc(st.name).upper()] + render_text(text, refs)
    see = sorted(r for r in refs if r != f.name)
    out += [".SH SEE ALSO", ",\n".join(["\\fB%s\\fR(3)" % esc(f.header.page_name())] +
                                         ["\\fB%s\\fR(3)" % esc(r) for r in see] +
                                         ["\\fBshmap\\fR(3)"])]
    return "\n".join(out) + "\n"


def header_page(h, version):
    refs = set()
    brief, body, _, _ = split_doc(h.file_doc)
    out = [".\\\" Generated from include/shmap/%s by gen-man3.py; do not edit." % h.base,
           th(h.page_name(), version), ".SH NAME",
           "%s \\- %s" % (esc(h.page_name()), inline(short(brief) if brief else h.base))]
    out += [".SH LIBRARY", "shmap library (\\fIlibshmap\\fR, \\fI\\-lshmap\\fR)"]
    out += [".SH SYNOPSIS", ".nf", "\\fB#include <shmap/%s>\\fR" % h.base, ".fi"]
    out += [".SH DESCRIPTION"] + (render_text(brief, refs) or [esc(h.base)])
    if body.strip():
        out += [".PP"] + render_text(body, refs)
    if h.funcs:
        out.append(".SH FUNCTIONS")
        for f in h.funcs:
            b = split_doc(f.doc)[0]
            out += [".TP", "\\fB%s\\fR(3)" % esc(f.name), inline(short(b)) if b else "."]
    if h.consts:
        out.append(".SH CONSTANTS")
        seen = set()
        for cname, value, doc in h.consts:
            if cname in seen:
                continue
            seen.add(cname)
            out += [".TP", "\\fB%s\\fR (%s)" % (esc(cname), esc(value)), line_out(inline(doc))]
    out += [".SH SEE ALSO", "\\fBshmap\\fR(3), \\fBshmapctl\\fR(1)"]
    return "\n".join(out) + "\n"


def index_page(headers, version):
    out = [".\\\" Generated by gen-man3.py; do not edit.", th("shmap", version), ".SH NAME",
           "shmap \\- lock-free data structures in POSIX shared memory",
           ".SH LIBRARY", "shmap library (\\fIlibshmap\\fR, \\fI\\-lshmap\\fR)",
           ".SH SYNOPSIS", ".nf", "\\fB#include <shmap/shmap.h>\\fR", ".fi",
           ".PP", "Compile and link with \\fIpkg\\-config \\-\\-cflags \\-\\-libs shmap\\fR.",
           ".SH DESCRIPTION",
           "Every call that can fail returns an \\fBint\\fR: 0 (\\fBSHMAP_OK\\fR), a positive",
           "informational value where documented, or a negative \\fBSHMAP_E_*\\fR code",
           "(see \\fBshmap\\-status\\fR(3) and \\fBshmap_strerror\\fR(3)).",
           "Each header has an overview page:"]
    for h in headers:
        if not h.funcs:
            continue
        b = split_doc(h.file_doc)[0]
        out += [".TP", "\\fB%s\\fR(3)" % esc(h.page_name()),
                "\\fB<shmap/%s>\\fR: %s" % (h.base, inline(short(b)) if b else "")]
    out += [".SH SEE ALSO", "\\fBshmapctl\\fR(1)"]
    return "\n".join(out) + "\n"


def pages(headers, version):
    result = {}
    for h in headers:
        if not h.funcs:
            continue
        result[h.page_name() + ".3"] = header_page(h, version)
        for f in h.funcs:
            result[f.name + ".3"] = func_page(f, version)
    result["shmap.3"] = index_page(headers, version)
    return result


def main(argv):
    outdir, version, do_list, files = None, "", False, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--list":
            do_list = True
        elif a == "--outdir":
            i += 1
            outdir = argv[i]
        elif a == "--version":
            i += 1
            version = argv[i]
        else:
            files.append(a)
        i += 1
    headers = [Header(p) for p in files]
    result = pages(headers, version)
    if do_list:
        for n in sorted(result):
            print(n)
        return 0
    if not outdir:
        print("gen-man3.py: --outdir or --list required", file=sys.stderr)
        return 2
    os.makedirs(outdir, exist_ok=True)
    for n, text in sorted(result.items()):
        with open(os.path.join(outdir, n), "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
