-- Each thread walks the fixed list from its own starting point; the second
-- argument, when given, is the Accept-Encoding to send.
local paths = {}
local headers = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  if args[2] then headers["Accept-Encoding"] = args[2] end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
