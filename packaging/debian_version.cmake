# pagoda_debian_version(VERSION OUT): the Debian version of a `git describe`
# version: 0.1.0 stays, 0.1.0-3-gabc1234 becomes 0.1.0+3.gabc1234 (after
# 0.1.0, before 0.1.1), 0.1.0-gabc1234 (no tag) becomes 0.1.0+gabc1234, and
# -dirty becomes +dirty.
function(pagoda_debian_version version out)
  string(REGEX REPLACE "-([0-9]+)-g([0-9a-f]+)" "+\\1.g\\2" v "${version}")
  string(REGEX REPLACE "-g([0-9a-f]+)" "+g\\1" v "${v}")
  string(REPLACE "-dirty" "+dirty" v "${v}")
  set(${out} "${v}" PARENT_SCOPE)
endfunction()
