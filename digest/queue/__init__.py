"""Send batches as jobs on a PostgreSQL task queue (procrastinate): ``DIGEST_QUEUE=procrastinate``.

The single-machine default sends in the process that plans (``digest send``, the dispatcher
of ``digest run``). With the queue, enrolment writes each chunk's ledger rows and the jobs
that will send them in one transaction (``enqueue``), and ``digest worker`` processes on any
number of machines run the jobs (``worker``, ``runtime``): each job claims its range of rows
under a lease and sends them through the same per-batch path as the in-process loop.

- ``jobs``: which jobs a set of new rows needs (pure);
- ``enqueue``: deferring them on the enrolling transaction's own connection;
- ``app``: the procrastinate App, its one task and its retry strategy, built per process;
- ``runtime``: a worker's long-lived parts and the job's body;
- ``stalled``: re-queueing the jobs of workers that died;
- ``worker``: a worker's life, from start to SIGTERM.
"""
