// Internal to the journal: records from an already parsed JSON value.
#pragma once

#include <rapidjson/document.h>

#include "journal/record.h"

namespace pagoda::journal {

Result<ReleaseRecord> ReleaseFromJson(const rapidjson::Value& value);
Result<SyncEntry> SyncFromJson(const rapidjson::Value& value);

}  // namespace pagoda::journal
