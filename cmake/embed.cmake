# Writes OUTPUT, a C++ header with each of FILES (a ;-list) as a string
# constant named after it (index.html -> kIndexHtml), so that the daemon
# serves them with nothing on disk. Run at build time: editing a file
# rebuilds the header.
set(text "// Generated from server/dashboard/ by cmake/embed.cmake; do not edit.\n#pragma once\n\nnamespace pagoda::server::assets {\n")
foreach(file IN LISTS FILES)
  file(READ "${file}" content)
  get_filename_component(name "${file}" NAME)
  string(REGEX REPLACE "[^A-Za-z0-9]" "_" id "${name}")
  string(FIND "${content}" ")pagoda_asset\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} holds the raw string's delimiter")
  endif()
  string(APPEND text "inline constexpr const char k_${id}[] = R\"pagoda_asset(${content})pagoda_asset\";\n")
endforeach()
string(APPEND text "\n}  // namespace pagoda::server::assets\n")
file(WRITE "${OUTPUT}.tmp" "${text}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
