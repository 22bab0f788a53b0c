-- POST /api/v1/session: password login (Argon2id in huellad, per request).
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers(true)
wrk.headers["Authorization"] = nil
wrk.method = "POST"
wrk.path = "/api/v1/session"
wrk.body = string.format('{"user":"%s","password":"%s"}',
  os.getenv("HUELLA_USER"), os.getenv("HUELLA_PASSWORD"))
done = common.done
