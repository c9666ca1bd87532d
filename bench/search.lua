-- wrk script for bench/search.sh: each request asks WRK_PATH .. a query of WRK_QUERIES
-- (a file of URL-encoded queries, one a line), picked at random, and a page from 1 to
-- WRK_PAGES (default 1). With many queries and pages, nearly every request is a query
-- asked for the first time, so no cache answers it.
local queries = {}
local path, pages

function init(args)
  for line in io.lines(os.getenv("WRK_QUERIES")) do
    queries[#queries + 1] = line
  end
  path = os.getenv("WRK_PATH")
  pages = tonumber(os.getenv("WRK_PAGES") or "1")
  -- Each thread its own sequence.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

function request()
  local query = queries[math.random(#queries)]
  return wrk.format("GET", path .. query .. "&page=" .. math.random(pages))
end
