"""The same-run baseline for scripts/gpu-check.sh: PyTorch's own NCCL all-reduce on one rank.

For each buffer size (1 to 256 MB) it times two paths, as the Tenax check does:
  device:  an all-reduce of a buffer already on the GPU (what NCCL alone costs);
  staged:  pageable host -> pinned host -> device, the all-reduce, and back again
           (the path Tenax takes, since DJL gives no device pointer).
Prints progress to stderr and one JSON line to stdout. Exit 0, or 3 when there is no GPU.
"""
import json
import os
import sys
import tempfile
import time


def main():
    try:
        import torch
        import torch.distributed as dist
    except ImportError as e:
        print(json.dumps({"baseline": "torch", "ok": False, "error": "no PyTorch: %s" % e}))
        return 3
    if not torch.cuda.is_available() or not dist.is_nccl_available():
        print(json.dumps({"baseline": "torch", "ok": False, "error": "no CUDA device or no NCCL in PyTorch"}))
        return 3
    store = os.path.join(tempfile.mkdtemp(), "store")
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", init_method="file://" + store, rank=0, world_size=1)
    rows = []
    mb = 1
    while mb <= 256:
        n = mb * (1 << 20) // 4
        host = torch.randn(n)
        pinned = torch.empty(n, pin_memory=True)
        dev = torch.empty(n, device="cuda")
        reps = 5 if mb >= 64 else 10

        def device_only():
            dist.all_reduce(dev)
            torch.cuda.synchronize()

        def staged():
            pinned.copy_(host)
            dev.copy_(pinned, non_blocking=True)
            dist.all_reduce(dev)
            pinned.copy_(dev, non_blocking=True)
            torch.cuda.synchronize()
            host.copy_(pinned)

        row = {"mb": mb}
        for name, fn in (("device", device_only), ("staged", staged)):
            fn()  # warm-up
            began = time.perf_counter()
            for _ in range(reps):
                fn()
            ms = (time.perf_counter() - began) * 1000 / reps
            row[name + "Ms"] = round(ms, 3)
            row[name + "GBps"] = round(mb * (1 << 20) / (ms / 1000) / 1e9, 2)
        rows.append(row)
        print("gpu-baseline: %4d MB: device %8.3f ms, staged %8.3f ms (%6.2f GB/s)"
              % (mb, row["deviceMs"], row["stagedMs"], row["stagedGBps"]), file=sys.stderr)
        mb *= 2
    dist.destroy_process_group()
    result = {}
    for blocking in (True, False):  # PyTorch's own communicator life: create, a first all-reduce, destroy
        try:
            result["blocking" if blocking else "nonBlocking"] = create_destroy(torch, dist, blocking)
        except Exception as e:  # an older PyTorch without the option: say so, keep the rest
            result["blocking" if blocking else "nonBlocking"] = {"error": repr(e)}
    print(json.dumps({"baseline": "torch", "ok": True, "torch": torch.__version__,
                      "nccl": ".".join(str(x) for x in torch.cuda.nccl.version()),
                      "device": torch.cuda.get_device_name(0), "bandwidth": rows,
                      "createDestroy": result}))
    return 0


def create_destroy(torch, dist, blocking):
    cycles = []
    for _ in range(10):
        options = dist.ProcessGroupNCCL.Options()
        options.config.blocking = 1 if blocking else 0
        began = time.perf_counter()
        dist.init_process_group("nccl", init_method="file://" + os.path.join(tempfile.mkdtemp(), "store"),
                                rank=0, world_size=1, device_id=torch.device("cuda", 0), pg_options=options)
        x = torch.ones(1024, device="cuda")
        dist.all_reduce(x)
        torch.cuda.synchronize()
        created = time.perf_counter()
        dist.destroy_process_group()
        cycles.append(((created - began) * 1000, (time.perf_counter() - created) * 1000))
    cycles.sort(key=lambda c: c[0] + c[1])
    median = cycles[len(cycles) // 2]
    print("gpu-baseline: 10 create/destroy cycles (%s): median %.1f ms (create and first all-reduce %.1f,"
          " destroy %.1f)" % ("blocking" if blocking else "non-blocking", median[0] + median[1], median[0],
                              median[1]), file=sys.stderr)
    return {"cycles": len(cycles), "p50Ms": round(median[0] + median[1], 2), "createP50Ms": round(median[0], 2),
            "destroyP50Ms": round(median[1], 2),
            "what": "init_process_group, a first all-reduce, destroy_process_group"}


if __name__ == "__main__":
    sys.exit(main())
