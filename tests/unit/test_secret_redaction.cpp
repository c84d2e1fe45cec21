// Credentials in stage config are blanked before the run recorder stores the config.
#include "exec/secret_redaction.hpp"

#include <catch2/catch.hpp>

using trellis::core::redact_secret_text;
using trellis::core::redact_secrets;

TEST_CASE("secret redaction: URL user info loses its password, keeps the user") {
    CHECK(redact_secret_text("postgresql://reader:s3cret@db:5432/sales") == "postgresql://reader:***@db:5432/sales");
    CHECK(redact_secret_text("https://me:p%40ss@example.com/x?y=1") == "https://me:***@example.com/x?y=1");
    // An '@' inside the password: the user info ends at the last '@' before the path.
    CHECK(redact_secret_text("postgres://u:a@b@host/db") == "postgres://u:***@host/db");
    CHECK(redact_secret_text("postgresql://reader@db/sales") == "postgresql://reader@db/sales");
    CHECK(redact_secret_text("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db");
}

TEST_CASE("secret redaction: password pairs in key=value strings and URL queries") {
    CHECK(redact_secret_text("host=db user=me password=s3cret dbname=x") == "host=db user=me password=*** dbname=x");
    CHECK(redact_secret_text("host=db password = 'a \\' b' port=1") == "host=db password = *** port=1");
    CHECK(redact_secret_text("password=s3cret host=db") == "password=*** host=db");
    CHECK(redact_secret_text("postgresql://me@db/x?sslmode=require&password=s3cret") ==
          "postgresql://me@db/x?sslmode=require&password=***");
    CHECK(redact_secret_text("postgresql://me@db/x?Password=s3cret&a=b") == "postgresql://me@db/x?Password=***&a=b");
    // SQL that mentions a password column is not a connection string: left alone.
    CHECK(redact_secret_text("SELECT id FROM users WHERE password = $1") == "SELECT id FROM users WHERE password = $1");
    CHECK(redact_secret_text("rate=0.1") == "rate=0.1");
}

TEST_CASE("secret redaction: every string of a config, at any depth") {
    const nlohmann::json config = {{"url", "postgresql://u:pw123@h/d"},
                                   {"query", "SELECT 1"},
                                   {"n", 3},
                                   {"list", {"host=h password=pw123", "plain"}},
                                   {"nested", {{"dsn", "postgres://u:pw123@h/d"}}}};
    const auto redacted = redact_secrets(config);
    CHECK(redacted.dump().find("pw123") == std::string::npos);
    CHECK(redacted["url"] == "postgresql://u:***@h/d");
    CHECK(redacted["query"] == "SELECT 1");
    CHECK(redacted["n"] == 3);
    CHECK(redacted["list"][0] == "host=h password=***");
    CHECK(redacted["list"][1] == "plain");
    CHECK(redacted["nested"]["dsn"] == "postgres://u:***@h/d");
}
