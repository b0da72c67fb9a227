-- wrk script: sends `depth` pipelined GET requests per write (http.mjs passes depth as an argument).
init = function(args)
  local depth = tonumber(args[1]) or 10
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil)
  end
  req = table.concat(r)
end

request = function()
  return req
end
