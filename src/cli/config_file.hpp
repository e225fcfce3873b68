#pragma once
// The config file (`--config FILE`, default $XDG_CONFIG_HOME/kadchat/kadchat.conf, else
// ~/.config/kadchat/kadchat.conf): every option the node's command line has, one per line as
// `name = value` (the long option without its dashes; a flag as `name` or `name = true`;
// `listen` and `bootstrap` may repeat), '#' starts a comment. An option given on the command
// line replaces the file's (all of the file's values for a repeatable one). Turned into command
// line words, so that one parser, with one set of checks and messages, reads both.
#include <string>
#include <vector>

#include "base/status.hpp"

namespace cli {

std::string default_config_path();
// The words the file adds to `argv` (the options the command line does not give). Errors name
// the file and line.
base::Result<std::vector<std::string>> config_words(const std::string& path, const std::vector<std::string>& argv);

}  // namespace cli
