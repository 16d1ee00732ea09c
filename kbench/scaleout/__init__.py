"""Running one suite across GPUs and machines on existing engines, then merging.

Every engine enters through the same command: one shard is `kbench run SUITE --shard i/N`, in a
fresh process on one whole GPU, writing its own result file; the driver merges the shard files
(kbench.merge). `shard.py` is that unit of work; `pool.py` the local default (one worker per
GPU of this host); `slurm.py` (submitit) and `ray_backend.py` (Ray) the cluster backends, each an
optional extra; `profile.py` the per-site settings file. A lost node is retried by the engine; a
failing kernel is an `error` verdict inside a shard, never a retry.
"""
