# Read by cpack (CPACK_PROJECT_CONFIG_FILE): the package's version, from the
# build's version.txt, as the binary it packages says it.
if(NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "the Debian package installs in /usr: configure with -DCMAKE_INSTALL_PREFIX=/usr")
endif()
file(STRINGS "${CPACK_PAGODA_VERSION_FILE}" line REGEX "^version=")
string(REGEX REPLACE "^version=" "" version "${line}")
include("${CPACK_PAGODA_SOURCE_DIR}/debian_version.cmake")
pagoda_debian_version("${version}" debian_version)
set(CPACK_PACKAGE_VERSION "${debian_version}")
set(CPACK_DEBIAN_PACKAGE_VERSION "${debian_version}")
