-- wrk script for the crawler run: every post page exactly once, in a random order.
-- WRK_IDS names a file with one post id per line (already shuffled); thread i of n takes
-- lines i, i+n, i+2n, ... and stops once it has had an answer for each of them. wrk then
-- reports the throughput over the time until the last thread stopped.
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function init(args)
  ids = {}
  local line_number = 0
  for line in io.lines(os.getenv("WRK_IDS")) do
    if line_number % tonumber(os.getenv("WRK_THREADS")) == index then
      ids[#ids + 1] = line
    end
    line_number = line_number + 1
  end
  next_id = 1
  answered = 0
end

function request()
  -- Past the end (a connection asks while the last answers are on their way): ask again
  -- for the first page; those answers are not counted, the thread stops first.
  local id = ids[next_id] or ids[1]
  next_id = next_id + 1
  return wrk.format("GET", "/posts/" .. id)
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= #ids then
    wrk.thread:stop()
  end
end
