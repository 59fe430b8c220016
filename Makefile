# hw3cli: every result is a file target. `make help` lists them; `make all` reproduces the main results.
# PROFILE=cpu (default) is sized for a 2-core CPU; `make quick` runs everything with tiny budgets into
# artifacts/quick/; PROFILE=full uses the assignment's scale (250 GAN epochs) for a machine with a GPU.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HW3    := $(BIN)/hw3cli
IMDB_SOURCE ?= ../shared/data/imdb
PROFILE ?= cpu
# A launcher for the training commands (train-gan, train-gru, train-mlp, classify), e.g.
# TORCHRUN="torchrun --nproc-per-node 8" on a node of 8 GPUs: each run then uses every GPU, one run at a time.
TORCHRUN ?=
TRAIN = $(if $(TORCHRUN),$(patsubst torchrun,$(BIN)/torchrun,$(TORCHRUN)) -m hw3cli,$(HW3))
JOBS ?= $(if $(TORCHRUN),1,$(shell nproc 2>/dev/null || echo 1))
# Inside a parallel make every run gets one torch thread: two runs with two threads each on two cores thrash.
# Under torchrun each rank takes its share of the node's CPUs (torchrun sets OMP_NUM_THREADS=1 for several).
THREADS = $(if $(TORCHRUN),0,$(if $(filter -j%,$(MAKEFLAGS)),1,0))

# Budgets per profile.
ART := artifacts
ADDER_OPTS := --seeds 10
VERIFY_BITS := 12
GRU_OPTS :=
MLP_OPTS :=
GAN_EPOCHS := 30
GAN_OPTS :=
# auto: bf16 autocast where the machine computes bf16 natively (2-3x faster there, with an equal or better Frechet
# distance), fp32 where it would only be emulated (15x slower). The runs that must stay fp32 say so below.
GAN_PRECISION := auto
UNROLL_EPOCHS := 10
UNROLL_OPTS :=
CLS_OPTS :=
JUDGE_OPTS :=
HIST_N := 3000
# The 2-D mixtures: every variant on the ring and the grid, over several seeds; an "epoch" is 100 generator steps.
# The exact unrolled GAN costs about 0.04 s a step at k=5 on one core of a 2-core Intel Xeon with AMX (twice that at
# k=10), so the CPU profile runs 5,000 steps and leaves k=10 to PROFILE=full; it needs thousands of steps to spread out.
TOY_SEEDS := 1 2 3
TOY_EPOCHS := 50
TOY_UNROLL := 5
TOY_OPTS :=
# Every mixture run stays fp32: bf16 spaces its numbers 0.016 apart at radius 2 and 0.03 at the grid's corners, a
# large part of the modes' 0.02 and 0.05 standard deviations, for little speed to gain with 128-unit layers.
# Every variant's learning rates stay constant for 80% of the steps, then fall linearly to 0 (a warmdown). On the
# ring it tightens the unrolled GANs' points (exact: 36.6% high-quality at constant rates -> 67.1%) and keeps every
# variant's coverage; a decay from the first step froze the surrogate unrolled GAN and WGAN-GP before they had
# spread over the ring (8 modes -> 0.7 and 3.3). Finished runs are not retrained when these settings change:
# delete $(TOY) first (toy-summary refuses to average runs of different settings).
TOY_PRECISION := fp32
TOY_LR_DECAY := 0.2
ifeq ($(PROFILE),quick)
  ART := artifacts/quick
  ADDER_OPTS := --seeds 2 --steps 300
  VERIFY_BITS := 8
  GRU_OPTS := --epochs 1
  MLP_OPTS := --epochs 2
  GAN_EPOCHS := 2
  GAN_OPTS := --limit 4000
  UNROLL_EPOCHS := 1
  UNROLL_OPTS := --limit 1000
  CLS_OPTS := --epochs 2 --limit 12000
  JUDGE_OPTS := --epochs 1 --limit 12000
  HIST_N := 500
  TOY_SEEDS := 1
  TOY_EPOCHS := 1
  TOY_OPTS := --batch-size 128
else ifeq ($(PROFILE),full)
  GRU_OPTS := --epochs 10 --patience 3
  GAN_EPOCHS := 250
  UNROLL_EPOCHS := 100
  CLS_OPTS := --epochs 60
  TOY_EPOCHS := 250
  TOY_UNROLL := 5 10
endif
GAN := $(ART)/gan
IMDB := $(ART)/imdb
EVERY = $$(( $(GAN_EPOCHS) / 3 ))

.PHONY: help install test lint all quick report adder imdb-data imdb fmnist gan-vanilla gan-lsgan gan-mse gan-wgan \
	classifier judge gan-unrolled histograms cgan gan-toy bench clean

help: ## List the targets (this message)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## Create .venv and install hw3cli (editable) with its dev tools

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import hw3cli, torch, torchvision, typer, rich, safetensors, regex, matplotlib, pytest"
	@touch $@

test: install ## Run the test suite (small data the tests make)
	$(BIN)/python -m pytest

lint: install ## ruff over the package, tests and benchmarks
	$(BIN)/ruff check hw3cli tests bench

all: install ## Reproduce every result and figure into artifacts/ (PROFILE=cpu|full), then the report; runs JOBS at once
	$(MAKE) --no-print-directory -j$(JOBS) --output-sync=target report PROFILE=$(PROFILE)

quick: ## Every target with tiny budgets into artifacts/quick/ (minutes), to see the whole pipeline work
	$(MAKE) all PROFILE=quick

report: $(ART)/REPORT.md ## artifacts/REPORT.md and REPORT.html from the run folders

# The chain vanilla -> classifier -> cGAN is asked for first, so its first link starts at once in a parallel make.
REPORT_INPUTS := $(GAN)/cgan-samples.png $(GAN)/histograms/histograms.json $(GAN)/mse-batch10/metrics.json \
	$(GAN)/wgan-comparison/comparison.md $(GAN)/lsgan/metrics.json $(GAN)/mse-batch250/metrics.json \
	$(IMDB)/comparison.md $(ART)/adder/example.json $(ART)/adder/verify.json $(ART)/adder/learned/metrics.json \
	$(GAN)/vanilla/metrics.json $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json $(GAN)/toy/summary.json
$(ART)/REPORT.md: $(REPORT_INPUTS)
	$(HW3) report --artifacts $(ART) --out $@

# Problem 0 -------------------------------------------------------------------------------------------------
adder: $(ART)/adder/example.json $(ART)/adder/verify.json $(ART)/adder/learned/metrics.json ## Problem 0: the worked example, the exhaustive check, the learned adder

$(ART)/adder/example.json: | install
	$(HW3) rnn-add 100111 110010 --show-weights --save $@

$(ART)/adder/verify.json: | install
	@mkdir -p $(@D)
	$(HW3) rnn-add --verify $(VERIFY_BITS) --threads $(THREADS) --json > $@.tmp && mv $@.tmp $@

$(ART)/adder/learned/metrics.json: | install
	$(HW3) rnn-add --learn $(ADDER_OPTS) --threads $(THREADS) --out $(@D)

# Problem 1 -------------------------------------------------------------------------------------------------
imdb-data: $(IMDB)/data/data.safetensors ## Problem 1: IMDB text to vocab.json and left-padded 400-token matrices
imdb: $(IMDB)/comparison.md ## Problem 1: preprocess, the GRU, both MLPs, and comparison.md

# The vocabulary is capped at 25,000 entries: rarer words (most seen once or twice) only help a model overfit.
$(IMDB)/data/data.safetensors: | install
	$(HW3) preprocess --source $(IMDB_SOURCE) --out $(@D) --max-vocab 25000

# The GRU stays fp32: bf16 autocast trained it 2.35x faster but cost 2.5 points of accuracy (bench/gru_bench.py).
$(IMDB)/gru/metrics.json: $(IMDB)/data/data.safetensors
	$(TRAIN) train-gru --data $(<D) --out $(@D) --precision fp32 --threads $(THREADS) $(GRU_OPTS)

$(IMDB)/mlp-%/metrics.json: $(IMDB)/data/data.safetensors
	$(TRAIN) train-mlp --data $(<D) --input $* --out $(@D) --threads $(THREADS) $(MLP_OPTS)

$(IMDB)/comparison.md: $(IMDB)/gru/metrics.json $(IMDB)/mlp-embedding/metrics.json $(IMDB)/mlp-ids/metrics.json
	$(HW3) compare-imdb $(^D) --out $@ > /dev/null

# Problem 2 -------------------------------------------------------------------------------------------------
# A file, not a phony target: a phony prerequisite with a recipe is a job of its own in a parallel make, and the
# runs waiting on it (the vanilla GAN at the head of the longest chain) started only after every other run had.
FMNIST_FILE := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
fmnist: $(FMNIST_FILE) ## Fashion-MNIST from Debian's dataset-fashion-mnist (needs root; elsewhere use train-gan --download)
$(FMNIST_FILE):
	apt-get update && apt-get install -y dataset-fashion-mnist


gan-vanilla: $(GAN)/vanilla/metrics.json ## Problem 2: the vanilla GAN (losses, scores, samples over training)
gan-lsgan: $(GAN)/lsgan/metrics.json ## Problem 2: the least-squares GAN
gan-mse: $(GAN)/mse-batch250/metrics.json $(GAN)/mse-batch10/metrics.json ## Problem 2: the MSE "GAN" at batch 250 and 10
gan-wgan: $(GAN)/wgan-comparison/comparison.md ## Problem 2: WGAN with clip 0.1, 0.01, 0.001, 0.0001 and WGAN-GP, side by side
classifier: $(GAN)/classifier/metrics.json ## Problem 2: D's architecture with 10 outputs, fine-tuned from the vanilla D
judge: $(GAN)/judge/metrics.json ## Problem 2: a CNN trained from scratch that grades every generator independently
gan-unrolled: $(GAN)/unrolled-surrogate-k5/metrics.json $(GAN)/unrolled-exact-k5/metrics.json ## Problem 2: unrolled GANs, K = 5, both modes
histograms: $(GAN)/histograms/histograms.json ## Problem 2: class histograms (mode collapse) of vanilla, unrolled, WGAN, cGAN
cgan: $(GAN)/cgan-samples.png ## Problem 2: the conditional GAN, 3 samples of each class, conditional accuracy
gan-toy: $(GAN)/toy/summary.json ## Mode collapse on the 2-D ring and grid: every variant over TOY_SEEDS, then the means

$(GAN)/vanilla/metrics.json $(GAN)/lsgan/metrics.json: | install $(FMNIST_FILE)
	$(TRAIN) train-gan --loss $(notdir $(@D)) --epochs $(GAN_EPOCHS) --sample-every $(EVERY) --out $(@D) \
	  --precision $(GAN_PRECISION) --threads $(THREADS) $(GAN_OPTS)

$(GAN)/mse-batch%/metrics.json: | install $(FMNIST_FILE)
	$(TRAIN) train-gan --loss mse --batch-size $* --epochs $(GAN_EPOCHS) --out $(@D) \
	  --precision $(GAN_PRECISION) --threads $(THREADS) $(GAN_OPTS)

WGAN_CLIPS := 0.1 0.01 0.001 0.0001
# The WGANs are measured by the judge and the classifier (Frechet distance, class KL), so clips and penalty
# compare on quality.
GRADE = --classifier $(GAN)/classifier --judge $(GAN)/judge
$(GAN)/wgan-clip%/metrics.json: $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json | install $(FMNIST_FILE)
	$(TRAIN) train-gan --loss wgan --clip $* --epochs $(GAN_EPOCHS) --out $(@D) $(GRADE) \
	  --precision $(GAN_PRECISION) --threads $(THREADS) $(GAN_OPTS)

# WGAN-GP: the gradient penalty instead of clipping (Adam 1e-4, betas 0 and 0.9, 5 critic steps), beside the clips.
$(GAN)/wgan-gp/metrics.json: $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json | install $(FMNIST_FILE)
	$(TRAIN) train-gan --loss wgan-gp --epochs $(GAN_EPOCHS) --out $(@D) $(GRADE) \
	  --precision $(GAN_PRECISION) --threads $(THREADS) $(GAN_OPTS)

$(GAN)/wgan-comparison/comparison.md: $(foreach c,$(WGAN_CLIPS),$(GAN)/wgan-clip$(c)/metrics.json) \
	$(GAN)/wgan-gp/metrics.json
	$(HW3) compare-gan $(^D) --out $(@D) > /dev/null

$(GAN)/classifier/metrics.json: $(GAN)/vanilla/metrics.json
	$(TRAIN) classify --init-from $(<D) --out $(@D) --threads $(THREADS) $(CLS_OPTS)

# The judge shares nothing with the GANs: a CNN trained from scratch on the training images (its own test accuracy).
$(GAN)/judge/metrics.json: | install $(FMNIST_FILE)
	$(TRAIN) judge --out $(@D) --threads $(THREADS) $(JUDGE_OPTS)

# The surrogate unrolled GAN stays fp32: in bf16 it collapsed to 2-4 classes in both runs measured (fp32: 7-8).
UNROLL_PRECISION_surrogate := fp32
UNROLL_PRECISION_exact = $(GAN_PRECISION)
# The exact unrolled GAN backpropagates through D's unrolled steps, which torchrun's ranks cannot share: one process.
UNROLL_LAUNCH_surrogate = $(TRAIN)
UNROLL_LAUNCH_exact = $(HW3)
# On Fashion-MNIST's 1.5M-weight D, unrolling D's Adam update makes a step 1.9x as long as plain SGD steps (25 s
# against 13 s for 50 steps, fp32, on an Intel Xeon): the longest target of make all would double. The SGD unroll
# is kept here, the one its numbers were measured with; the 2-D mixtures unroll Adam.
UNROLL_FLAGS_surrogate :=
UNROLL_FLAGS_exact := --unroll-optimizer sgd
$(GAN)/unrolled-%-k5/metrics.json: | install $(FMNIST_FILE)
	$(UNROLL_LAUNCH_$*) train-gan --loss vanilla --unroll 5 --unroll-mode $* $(UNROLL_FLAGS_$*) --epochs $(UNROLL_EPOCHS) \
	  --out $(@D) --precision $(UNROLL_PRECISION_$*) --threads $(THREADS) $(UNROLL_OPTS)

# The conditional GAN stays fp32, the precision its conditional-accuracy goal was measured at. With the one-hot
# labels alone, the judge read 79% of its samples as the class asked for (Pullover 13%): a matching-aware D
# (--mismatch), D's class head (--class-loss) and samples from an average of G's weights (--ema) make it draw each class.
# A class weight of 2 and an average over about 5,000 steps: by one judge, on 1,000 samples a class, Pullover 75% at
# epoch 30, against 66% with an average over 2,000 steps, 61% over 1,000 and 58% with weight 3 (README: the
# conditional GAN). The average starts from G's first weights and forgets them slowly (39% of it after 4,685 steps):
# PROFILE=quick's 124 steps leave it in effect the untrained G. A finished run is not retrained when CGAN_OPTS
# change: delete $(GAN)/cgan-vanilla first.
CGAN_OPTS := --mismatch --class-loss 2 --ema 0.9998
$(GAN)/cgan-vanilla/metrics.json: $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json
	$(TRAIN) train-gan --loss vanilla --conditional $(CGAN_OPTS) --precision fp32 --epochs $(GAN_EPOCHS) --sample-every $(EVERY) \
	  $(GRADE) --eval-every $$(( $(GAN_EPOCHS) / 6 > 0 ? $(GAN_EPOCHS) / 6 : 1 )) --out $(@D) \
	  --threads $(THREADS) $(GAN_OPTS)

$(GAN)/cgan-samples.png: $(GAN)/cgan-vanilla/metrics.json $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json
	$(HW3) cgan-sample --generator $(<D) --per-class 3 $(GRADE) --out $@

HISTOGRAM_RUNS := vanilla cgan-vanilla unrolled-exact-k5 unrolled-surrogate-k5 wgan-clip0.01 wgan-gp
$(GAN)/histograms/histograms.json: $(GAN)/classifier/metrics.json $(GAN)/judge/metrics.json \
	$(foreach r,$(HISTOGRAM_RUNS),$(GAN)/$(r)/metrics.json)
	$(HW3) histogram $(foreach r,$(HISTOGRAM_RUNS),--generator $(GAN)/$(r)) $(GRADE) \
	  -n $(HIST_N) --out $(@D)

# The 2-D mixtures (mode collapse made visible): $(TOY)/DATASET/VARIANT/seedN, then the means over seeds.
TOY := $(GAN)/toy
# The longest runs first (the exact unrolled GAN, then WGAN-GP's critic steps), so that a parallel make ends sooner.
# -std: G and D in the mixture's coordinates over their spread (--standardize). The exact unrolled GAN grows out from
# the origin, where G starts; on the grid, after 25,000 steps, it held mostly the 9 inner modes (6.0 of 25 modes over
# 3 seeds, 2 outer ones on one seed).
TOY_VARIANTS := $(foreach k,$(TOY_UNROLL),unrolled-exact-k$(k) unrolled-exact-k$(k)-std) wgan-gp \
	$(foreach k,$(TOY_UNROLL),unrolled-surrogate-k$(k)) wgan-clip0.01 vanilla
$(foreach k,5 10,$(eval TOY_FLAGS_unrolled-exact-k$(k) := --unroll $(k) --unroll-mode exact))
$(foreach k,5 10,$(eval TOY_FLAGS_unrolled-exact-k$(k)-std := --unroll $(k) --unroll-mode exact --standardize))
$(foreach k,5 10,$(eval TOY_FLAGS_unrolled-surrogate-k$(k) := --unroll $(k) --unroll-mode surrogate))
TOY_FLAGS_vanilla :=
TOY_FLAGS_wgan-clip0.01 := --loss wgan --clip 0.01
TOY_FLAGS_wgan-gp := --loss wgan-gp
TOY_RUNS := $(foreach v,$(TOY_VARIANTS),$(foreach d,ring grid,$(foreach s,$(TOY_SEEDS),$(TOY)/$(d)/$(v)/seed$(s))))
toy_part = $(word $(1),$(subst /, ,$*))
$(TOY)/%/metrics.json: | install
	$(if $(findstring exact,$*),$(HW3),$(TRAIN)) train-gan --dataset $(call toy_part,1) \
	  $(TOY_FLAGS_$(call toy_part,2)) --seed $(patsubst seed%,%,$(call toy_part,3)) --epochs $(TOY_EPOCHS) \
	  --out $(@D) --threads $(THREADS) --precision $(TOY_PRECISION) --lr-decay $(TOY_LR_DECAY) $(TOY_OPTS)

$(TOY)/summary.json: $(foreach r,$(TOY_RUNS),$(r)/metrics.json)
	$(HW3) toy-summary $(TOY_RUNS) --out $(@D) > /dev/null

# -----------------------------------------------------------------------------------------------------------
bench: install $(IMDB)/data/data.safetensors fmnist ## Benchmarks (speed ratios measured in one run; not part of the tests)
	$(BIN)/python bench/preprocess_bench.py --source $(IMDB_SOURCE)
	$(BIN)/python bench/gan_bench.py
	$(BIN)/python bench/distributed_bench.py
	$(BIN)/python bench/gru_bench.py --data $(IMDB)/data

clean: ## Remove artifacts/ outputs (keeps its README) and caches
	find artifacts -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache
