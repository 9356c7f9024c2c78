"""Train (in parallel, one CPU thread each) and export the zoo models named on the command line.

Usage: .venv/bin/python scripts/train_zoo.py mnist-labels-eps10 mnist-labels-epsinf ...
Each model runs the exact command in dpinfogan/zoo.py (DPINFOGAN_DATA must point at full MNIST),
then is exported to checkpoints/<name>.safetensors (float16, no optimizer state).
"""
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dpinfogan.zoo import ZOO  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
py = str(ROOT / ".venv/bin/python")
wanted = {m.name: m for m in ZOO}
names = sys.argv[1:] or list(wanted)
# relative to the project root (the trainers run there), so no machine's absolute path lands in the metadata
env = {**os.environ, "DPINFOGAN_DATA": os.environ.get("DPINFOGAN_DATA", "../shared/data")}
procs = {}
for name in names:
    m = wanted[name]
    log = open(ROOT / f"{m.run_dir}.log", "w")
    procs[name] = subprocess.Popen([py, "-m", "dpinfogan", *m.train_args()], cwd=ROOT, env=env, stdout=log, stderr=log)
for name, p in procs.items():
    rc = p.wait()
    print(name, "exit", rc, flush=True)
    if rc == 0:
        subprocess.run([py, "-m", "dpinfogan", "export", f"{wanted[name].run_dir}/checkpoint.safetensors",
                        f"checkpoints/{name}.safetensors", "--half"], cwd=ROOT, check=True)
