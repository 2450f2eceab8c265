// Canonical JSON (RapidJSON values written with sorted object keys and no
// insignificant whitespace), its YAML spelling, and the SHA-256 that names
// revisions and file sets.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/yaml.h"

namespace pagoda::manifest {

// Object keys sorted bytewise at every level; arrays keep their order.
std::string CanonicalJson(const rapidjson::Value& value);

// YAML for a JSON text, as block mappings and sequences; strings are plain
// only when no YAML 1.1 or 1.2 reader could take them for anything else.
// `indent` is the indentation of the top level.
Result<std::string> JsonToYaml(std::string_view json);

// The first `hex_digits` hex digits of SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes, size_t hex_digits);

// A YAML tree as JSON, resolving plain scalars by the YAML 1.2 core schema
// (null, true/false, integers, floats; everything else a string).
rapidjson::Value YamlToJson(const YamlNode& node, rapidjson::Document::AllocatorType& alloc);

}  // namespace pagoda::manifest
