# hw3cli: every result is a file target. `make help` lists them; `make all` reproduces the main results.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HW3    := $(BIN)/hw3cli
ART    ?= artifacts
IMDB_SOURCE ?= ../shared/data/imdb

.PHONY: help install test lint all adder imdb-data imdb fmnist gan-vanilla gan-lsgan gan-mse gan-wgan classifier gan-unrolled histograms cgan bench clean

help: ## List the targets (this message)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## Create .venv and install hw3cli (editable) with its dev tools

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import hw3cli, torch, torchvision, typer, rich, safetensors, regex, matplotlib, pytest"
	@touch $@

test: install ## Run the test suite (small data the tests make; a few minutes on 2 cores)
	$(BIN)/python -m pytest

lint: install ## ruff over the package, tests and benchmarks
	$(BIN)/ruff check hw3cli tests bench

all: adder imdb gan-vanilla gan-lsgan gan-mse gan-wgan classifier gan-unrolled histograms cgan ## Reproduce the main results into artifacts/

adder: $(ART)/adder/example.json $(ART)/adder/verify.json $(ART)/adder/learned/metrics.json ## Problem 0: the worked example, the exhaustive check, the learned adder

$(ART)/adder/example.json: | install
	$(HW3) rnn-add 100111 110010 --show-weights --save $@

$(ART)/adder/verify.json: | install
	@mkdir -p $(@D)
	$(HW3) rnn-add --verify 12 --json > $@.tmp && mv $@.tmp $@

$(ART)/adder/learned/metrics.json: | install
	$(HW3) rnn-add --learn --seeds 10 --out $(@D)

imdb-data: $(ART)/imdb/data/data.safetensors ## Problem 1: IMDB text to vocab.json and left-padded 400-token matrices

# The vocabulary is capped at 25,000 entries: rarer words (most seen once or twice) only help a model overfit.
$(ART)/imdb/data/data.safetensors: | install
	$(HW3) preprocess --source $(IMDB_SOURCE) --out $(@D) --max-vocab 25000

imdb: $(ART)/imdb/comparison.md ## Problem 1: preprocess, GRU, both MLPs, and comparison.md

$(ART)/imdb/gru/metrics.json: $(ART)/imdb/data/data.safetensors
	$(HW3) train-gru --data $(<D) --out $(@D)

$(ART)/imdb/mlp-%/metrics.json: $(ART)/imdb/data/data.safetensors
	$(HW3) train-mlp --data $(<D) --input $* --out $(@D)

$(ART)/imdb/comparison.md: $(ART)/imdb/gru/metrics.json $(ART)/imdb/mlp-embedding/metrics.json $(ART)/imdb/mlp-ids/metrics.json
	$(HW3) compare-imdb $(^D) --out $@ > /dev/null

GAN_EPOCHS ?= 30
UNROLL_EPOCHS ?= 10
GAN := $(ART)/gan
fmnist: ## Fashion-MNIST from Debian's dataset-fashion-mnist (needs root; elsewhere use train-gan --download)
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
	  (apt-get update && apt-get install -y dataset-fashion-mnist)

gan-vanilla: $(GAN)/vanilla/metrics.json ## Problem 2: the vanilla GAN (losses, scores, samples over training)
gan-lsgan: $(GAN)/lsgan/metrics.json ## Problem 2: least-squares GAN
gan-mse: $(GAN)/mse-batch250/metrics.json $(GAN)/mse-batch10/metrics.json ## Problem 2: MSE "GAN" at batch 250 and 10
gan-wgan: $(GAN)/wgan-comparison/comparison.md ## Problem 2: WGAN with clip 0.1, 0.01, 0.001, 0.0001, side by side

$(GAN)/vanilla/metrics.json $(GAN)/lsgan/metrics.json: | install fmnist
	$(HW3) train-gan --loss $(notdir $(@D)) --epochs $(GAN_EPOCHS) --sample-every $$(( $(GAN_EPOCHS) / 3 )) --out $(@D)

$(GAN)/mse-batch%/metrics.json: | install fmnist
	$(HW3) train-gan --loss mse --batch-size $* --epochs $(GAN_EPOCHS) --out $(@D)

WGAN_CLIPS := 0.1 0.01 0.001 0.0001
$(GAN)/wgan-clip%/metrics.json: | install fmnist
	$(HW3) train-gan --loss wgan --clip $* --epochs $(GAN_EPOCHS) --out $(@D)

$(GAN)/wgan-comparison/comparison.md: $(foreach c,$(WGAN_CLIPS),$(GAN)/wgan-clip$(c)/metrics.json)
	$(HW3) compare-gan $(^D) --out $(@D) > /dev/null

classifier: $(GAN)/classifier/metrics.json ## Problem 2: D's architecture with 10 outputs, fine-tuned from the vanilla D
gan-unrolled: $(GAN)/unrolled-surrogate-k5/metrics.json $(GAN)/unrolled-exact-k5/metrics.json ## Problem 2: unrolled GANs (K=5)
histograms: $(GAN)/histograms/histograms.json ## Problem 2: class histograms (mode collapse) of vanilla, unrolled, WGAN, cGAN
cgan: $(GAN)/cgan-samples.png ## Problem 2: the conditional GAN, 3 samples of each class, conditional accuracy

$(GAN)/classifier/metrics.json: $(GAN)/vanilla/metrics.json
	$(HW3) classify --init-from $(<D) --out $(@D)

$(GAN)/unrolled-%-k5/metrics.json: | install fmnist
	$(HW3) train-gan --loss vanilla --unroll 5 --unroll-mode $* --epochs $(UNROLL_EPOCHS) --out $(@D)

$(GAN)/cgan-vanilla/metrics.json: $(GAN)/classifier/metrics.json
	$(HW3) train-gan --loss vanilla --conditional --epochs $(GAN_EPOCHS) --sample-every $$(( $(GAN_EPOCHS) / 3 )) \
	  --classifier $(<D) --eval-every $$(( $(GAN_EPOCHS) / 6 > 0 ? $(GAN_EPOCHS) / 6 : 1 )) --out $(@D)

$(GAN)/cgan-samples.png: $(GAN)/cgan-vanilla/metrics.json $(GAN)/classifier/metrics.json
	$(HW3) cgan-sample --generator $(<D) --per-class 3 --classifier $(GAN)/classifier --out $@

HISTOGRAM_RUNS := vanilla unrolled-surrogate-k5 unrolled-exact-k5 wgan-clip0.01 cgan-vanilla
$(GAN)/histograms/histograms.json: $(GAN)/classifier/metrics.json $(foreach r,$(HISTOGRAM_RUNS),$(GAN)/$(r)/metrics.json)
	$(HW3) histogram $(foreach r,$(HISTOGRAM_RUNS),--generator $(GAN)/$(r)) --classifier $(GAN)/classifier \
	  -n 3000 --out $(@D)

bench: install ## Benchmarks (speed ratios measured in one run; not part of the tests)
	$(BIN)/python bench/preprocess_bench.py --source $(IMDB_SOURCE)
	$(BIN)/python bench/gan_bench.py

clean: ## Remove artifacts/ outputs (keeps its README) and caches
	find $(ART) -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache
