#pragma once
// A directory under /tmp for one test's files, removed with everything in it when the test is
// done (pass or fail), so that test runs leave nothing behind.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace testing {

class TempDir {
public:
    explicit TempDir(const std::string& name) {
        std::string tmpl = "/tmp/kadchat-" + name + "-XXXXXX";
        if (mkdtemp(tmpl.data())) path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path;
};

}  // namespace testing
