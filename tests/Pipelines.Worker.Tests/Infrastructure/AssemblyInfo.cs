// The tests share one Redis and Postgres and run worker processes against them; running them one at a time
// keeps a test's worker from picking up another test's entries and keeps timings honest on a 2-core machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
