// What the listener's routes share. Internal to server/.
#pragma once

#include <httplib.h>

#include <string>

#include "server/http_server.h"

namespace pagoda::server {

// `body` as text/plain, with a final newline.
void Text(httplib::Response& res, int status, const std::string& body);
// Registers `handler` for `method` on `path` (a regular expression where it
// has groups), and 405 with an Allow header for every other method.
void Route(httplib::Server& server, const std::string& path, const std::string& method,
           httplib::Server::Handler handler);
// The dashboard's page, its JSON and its actions (http_server.h lists them).
void AddDashboard(httplib::Server& server, const HttpEndpoints& endpoints);

}  // namespace pagoda::server
