"""Character models of Debian's fortunes: an LSTM and a small transformer, as `train text` builds them.

    python examples/text_fortunes.py                       # the documented runs (docs/text.md)
    python examples/text_fortunes.py --quick --figures /tmp/figures     # a minute: for the tests

Trains each model on /usr/share/games/fortunes (apt-get install fortunes) exactly as
``scratchnn train text /usr/share/games/fortunes --model MODEL`` does with its defaults (the
same `load_text` windows, `build_text_network`, Adam with clip_norm 1.0, the same seed),
prints the time, the validation loss per epoch and samples, and draws both loss curves into
text_fortunes_loss.png in --figures. --quick trains tiny models on the first 40,000 characters.
"""

import argparse
import os
import time

import scratchnn as sn
from scratchnn.cli.text import (BATCH_SIZE, CLIP_NORM, EMBEDDING_DIM, HEADS, SEQ_LENGTH, TEXT_DEFAULTS, LossCurve,
                                build_text_network, plot_loss_curves)

FORTUNES = "/usr/share/games/fortunes"
PROMPTS = ("\n", "The ", "Life is ")


def train(model, data, quick, seed=0):
    """One model of `train text`'s defaults (tiny ones with `quick`); return (net, history, curve, seconds)."""
    defaults = TEXT_DEFAULTS[model]
    hidden = [32] if quick and model == "lstm" else [32, 32] if quick else defaults["hidden"]
    net = build_text_network(model, len(data.vocabulary), hidden, data.seq_length, EMBEDDING_DIM, HEADS, seed=seed)
    net.classes = data.vocabulary
    curve = LossCurve(data.X_val, data.y_val, every=10 if quick else 50)
    started, cpu = time.perf_counter(), time.process_time()
    history = net.fit(data.X_train, data.y_train, loss=sn.CrossEntropy(),
                      optimizer=sn.Adam(defaults["learning_rate"], clip_norm=CLIP_NORM),
                      epochs=1 if quick else defaults["epochs"], batch_size=BATCH_SIZE, verbose=0,
                      validation_data=(data.X_val, data.y_val), callbacks=[curve], threads="auto")
    return net, history, curve, time.perf_counter() - started, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models on 40,000 characters")
    parser.add_argument("--models", default="lstm,transformer", help="comma list of lstm, transformer")
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "..", "docs", "figures"))
    parser.add_argument("--corpus", default=FORTUNES, help=f"a text file or folder (default {FORTUNES})")
    args = parser.parse_args(argv)

    data = sn.datasets.load_text(args.corpus, seq_length=SEQ_LENGTH, max_chars=40_000 if args.quick else None)
    print(data.describe())
    curves = {}
    for model in args.models.split(","):
        net, history, curve, seconds, cpu = train(model, data, args.quick)
        curves[model] = curve
        parameters = sum(p.value.size for p in net.parameters())
        print(f"\n{model}: {parameters:,} parameters, {len(history.epoch)} epoch(s) in {seconds:.0f} s, "
              f"{cpu:.0f} s of CPU time ({seconds / len(curve.steps) * 1e3:.0f} ms per step of "
              f"{BATCH_SIZE}x{data.seq_length}" + ("; other jobs shared the cores" if cpu < 0.8 * seconds else "") + ")")
        for epoch, (loss, validation) in enumerate(zip(history.history["loss"], history.history["val_loss"])):
            print(f"  epoch {epoch + 1}: training {loss:.4f}, validation {validation:.4f} nats per character")
        for seed, prompt in enumerate(PROMPTS, start=1):
            sample = sn.generate_text(net, prompt, 80 if args.quick else 400, temperature=0.8, seed=seed)
            print(f"  sample, prompt {prompt!r}, temperature 0.8, seed {seed}:\n{prompt}{sample}\n  ---")
    os.makedirs(args.figures, exist_ok=True)
    path = os.path.join(args.figures, "text_fortunes_loss.png")
    plot_loss_curves(curves, path, BATCH_SIZE * data.seq_length,
                     title="fortunes: character models, validation on 256 held-out windows")
    print(f"figure: {os.path.normpath(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
