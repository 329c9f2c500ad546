# Flattens one JSON document (stdin) into "path<TAB>value" lines, one per
# scalar: objects add ".key", arrays add ".N" (0-based); strings are unescaped
# (\uXXXX outside ASCII becomes "?"), numbers/true/false/null are printed as
# written. Busybox awk has no JSON, and the agent only needs to read a few
# fields of the controller's answers. Exits 1 on malformed input.
BEGIN { RS = "\001"; }
{ s = s $0 }
END {
  n = length(s); p = 1; err = 0
  value("")
  ws()
  if (err || p <= n) { print "json-flatten: malformed JSON near offset " p > "/dev/stderr"; exit 1 }
}
function ws() { while (p <= n && index(" \t\r\n", substr(s, p, 1)) > 0) p++ }
function fail() { err = 1; p = n + 1 }
function value(path,    c) {
  ws(); c = substr(s, p, 1)
  if (c == "{") obj(path)
  else if (c == "[") arr(path)
  else if (c == "\"") emit(path, str())
  else scalar(path)
}
function emit(path, v) { if (!err) printf "%s\t%s\n", substr(path, 2), v }
function obj(path,    k) {
  p++; ws()
  if (substr(s, p, 1) == "}") { p++; return }
  while (!err) {
    ws(); if (substr(s, p, 1) != "\"") { fail(); return }
    k = str(); ws()
    if (substr(s, p, 1) != ":") { fail(); return }
    p++; value(path "." k); ws()
    c = substr(s, p, 1); p++
    if (c == "}") return
    if (c != ",") { fail(); return }
  }
}
function arr(path,    i, c) {
  p++; ws(); i = 0
  if (substr(s, p, 1) == "]") { p++; return }
  while (!err) {
    value(path "." i); i++; ws()
    c = substr(s, p, 1); p++
    if (c == "]") return
    if (c != ",") { fail(); return }
  }
}
function str(    out, c, e, h) {
  p++; out = ""
  while (p <= n) {
    c = substr(s, p, 1)
    if (c == "\"") { p++; return out }
    if (c == "\\") {
      e = substr(s, p + 1, 1); p += 2
      if (e == "n") out = out "\n"
      else if (e == "t") out = out "\t"
      else if (e == "r") out = out "\r"
      else if (e == "b" || e == "f") out = out " "
      else if (e == "u") { h = substr(s, p, 4); p += 4; out = out hexchar(h) }
      else out = out e
      continue
    }
    out = out c; p++
  }
  fail(); return out
}
function hexchar(h,    v, i, d) {
  v = 0
  for (i = 1; i <= 4; i++) { d = index("0123456789abcdef", tolower(substr(h, i, 1))); if (d == 0) { fail(); return "" } v = v * 16 + d - 1 }
  if (v >= 32 && v < 127) return sprintf("%c", v)
  return "?"
}
function scalar(path,    start) {
  start = p
  while (p <= n && index(",}] \t\r\n", substr(s, p, 1)) == 0) p++
  if (p == start) { fail(); return }
  emit(path, substr(s, start, p - start))
}
