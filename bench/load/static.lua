-- GET a static portal page (the baseline: nginx alone).
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
wrk.method = "GET"
wrk.path = "/index.html"
done = common.done
