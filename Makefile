# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench bench-real bench-augment bench-n2d bench-n2d-long bench-gan bench-stream bench-big bench-ddp bench-step bench-clustpy bench-report bench-presets gpu-check clean

venv: $(STAMP)

# torch is pinned and installed first: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[cli,plot,text,audio,dev]"
	touch $(STAMP)

demo: venv
	$(BIN)/deepclust demo

# style (ruff), the import floors and cycles (import-linter, contracts in pyproject.toml), then the suite
test: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

bench: venv
	$(BIN)/python benchmarks/run.py

# the real-data benchmark: deepclust's default (the CLI as a user runs it) beside k-means, a Gaussian
# mixture and UMAP + GMM on the same features, 15 datasets x 3 seeds (about 30 minutes on 2 cores);
# the spoken-word set is generated with espeak-ng, installed here when missing, and the package
# descriptions are read from Debian's package lists, fetched here when empty
bench-real: venv
	command -v espeak-ng >/dev/null || (apt-get update -qq && apt-get install -y -qq espeak-ng)
	[ -n "$$(apt-cache dumpavail | head -c 1)" ] || apt-get update -qq
	$(BIN)/python benchmarks/realdata.py

# the augmented recipe (DEC's and IDEC's defaults) on MNIST-70k: one 60-epoch pretraining per seed
bench-augment: venv
	for seed in 0 1 2; do $(BIN)/python benchmarks/run.py --datasets mnist70k --seeds $$seed --no-pixels \
		--methods ae-kmeans dec idec n2d --augment --pretrain-epochs 60 --batch-size 256 || exit 1; done
	$(BIN)/python benchmarks/run.py --datasets mnist70k --seeds 0 1 2 --no-pixels --methods vade \
		--augment --pretrain-epochs 60 --batch-size 256

# N2D's own default on MNIST-70k: 30 plain pretraining epochs at batch 64 (the table's other
# methods share 20), then UMAP + GMM and self-labelling
bench-n2d: venv
	for seed in 0 1 2; do $(BIN)/python benchmarks/run.py --datasets mnist70k --seeds $$seed --no-pixels \
		--methods ae-kmeans n2d --pretrain-epochs 30 || exit 1; done

# N2D's accurate recipe on MNIST-70k: 100 plain pretraining epochs at batch 256 (~20 minutes a seed)
bench-n2d-long: venv
	for seed in 0 1 2; do $(BIN)/python benchmarks/run.py --datasets mnist70k --seeds $$seed --no-pixels \
		--methods ae-kmeans n2d --pretrain-epochs 100 --batch-size 256 || exit 1; done

# ClusterGAN: accuracy, Fréchet distance and cluster consistency of generated digits
bench-gan: venv
	$(BIN)/python benchmarks/gan.py

# peak memory of predict streaming a 1,000,000 x 784 .npy (3.1 GB, built in benchmarks/cache)
bench-stream: venv
	$(BIN)/python benchmarks/stream_predict.py

# training from a file: deepclust fit on 1,000,000 and 4,000,000 shifted and rotated MNIST images
# (uint8 .npy built in benchmarks/cache), peak memory, accuracy, throughput from file vs memory, and
# MNIST-70k in memory beside the commit before file training (a git worktree); about an hour
bench-big: venv
	$(BIN)/python benchmarks/big.py --before 184b028

# the default on MNIST-70k as 1 process x 2 threads, then 2 processes x 1 thread (torchrun, gloo)
bench-ddp: venv
	$(BIN)/python benchmarks/ddp.py

# report.html of the bundled sample and of MNIST-70k: page size, `deepclust report` time, and in
# headless Chromium the time to draw, hover-to-tooltip latency, zoom and pan redraws
bench-report: venv
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python benchmarks/report.py

# N2D's presets on MNIST-70k, end to end in fresh processes (load to labels), three seeds each:
# time to accuracy of `fast` (about 4 minutes a seed) beside `default` (about 15)
bench-presets: venv
	$(BIN)/python benchmarks/presets.py --presets fast default --seeds 0 1 2

# the prepared check for a lent GPU machine (about 8 minutes): benchmarks/results/gpu_check.md
gpu-check: venv
	bash benchmarks/gpu_check.sh

# milliseconds per training step by part: Adam for-each vs fused, float32 vs bfloat16 autocast
bench-step: venv
	$(BIN)/python benchmarks/step_time.py --compile

# ClustPy side by side, in its own environment (never a dependency of deepclust). torchvision is
# pinned beside torch, or pip swaps in a multi-GB CUDA torch.
CLUSTPY_VENV := benchmarks/cache/clustpy-venv
$(CLUSTPY_VENV)/.installed:
	$(PYTHON) -m venv $(CLUSTPY_VENV)
	$(CLUSTPY_VENV)/bin/pip install --quiet torch==2.13.0 torchvision==0.28.0 clustpy==0.0.3 umap-learn
	touch $@

bench-clustpy: venv $(CLUSTPY_VENV)/.installed
	$(BIN)/python benchmarks/side_by_side.py --dataset sample
	$(BIN)/python benchmarks/side_by_side.py --dataset mnist70k --time-to-accuracy

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
