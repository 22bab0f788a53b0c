-- POST /api/v1/identify: 1:N search of HUELLA_PROBE over the whole gallery.
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers(true)
wrk.method = "POST"
wrk.path = "/api/v1/identify"
wrk.body = string.format(
  '{"finger":{"format":"iso19794-2:2005","data":"%s"},"max_candidates":5}',
  common.base64(common.read_file(os.getenv("HUELLA_PROBE"))))
done = common.done
