-- GET /healthz: one round trip over the shared-memory link (PING).
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
wrk.method = "GET"
wrk.path = "/healthz"
done = common.done
