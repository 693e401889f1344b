# THIRD-PARTY-NOTICES as a Debian copyright file's appendix: each licence
# text that contains the full Apache License 2.0 is replaced by a pointer to
# /usr/share/common-licenses/Apache-2.0 (lintian:
# copyright-file-contains-full-apache-2-license); what follows the licence
# in the same file (the LLVM exception) is kept. Used by scripts/deb.sh.
BEGIN {
  eq = "="; while (length(eq) < 78) eq = eq "="
  dash = "-"; while (length(dash) < 78) dash = dash "-"
}
function flush() {
  if (n == 0) return
  if (block ~ /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/) {
    printf "%s", head
    print "The Apache License, Version 2.0: /usr/share/common-licenses/Apache-2.0"
    i = index(block, "--- LLVM Exceptions to the Apache 2.0 License")
    if (i > 0) { print ""; printf "%s", substr(block, i) } else print ""
  } else {
    printf "%s%s", head, block
  }
  n = 0; head = ""; block = ""
}
$0 == eq { flush(); inblock = 1; head = $0 "\n"; n = 1; hdr = 1; next }
!inblock { print; next }
hdr && $0 == dash { head = head $0 "\n\n"; hdr = 0; getline; next }
hdr { head = head $0 "\n"; next }
{ block = block $0 "\n" }
END { flush() }
