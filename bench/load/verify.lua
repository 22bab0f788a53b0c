-- POST /api/v1/verify: 1:1 match of HUELLA_PROBE against HUELLA_CURP.
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.setup_headers(true)
wrk.method = "POST"
wrk.path = "/api/v1/verify"
wrk.body = string.format(
  '{"curp":"%s","finger":{"format":"iso19794-2:2005","data":"%s"}}',
  os.getenv("HUELLA_CURP"), common.base64(common.read_file(os.getenv("HUELLA_PROBE"))))
done = common.done
