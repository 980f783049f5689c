"""Training: the loop (`loop`), the tasks it runs (`tasks`), the recipes of the shipped models
(`recipes`), checkpoints (`checkpoints`), data parallelism (`distributed`), seeds and devices
(`runtime`), and the playground's live trainer (`picture`)."""

from .loop import (
    LOSS_RISE_LIMIT,
    NonFiniteLossError,
    ResumeMismatch,
    Trainable,
    TrainConfig,
    data_record,
    track_validation,
    train,
    write_metrics,
)
from .runtime import device, fast_mode, seed_everything, step_generator, step_seed
from .tasks import (
    EVAL_SEED,
    Task,
    evaluate_bits_per_dim,
    evaluate_nll,
    run_task,
    tabular_evaluator,
    toy_evaluator,
    train_images,
    train_tabular,
    train_toy,
    train_vae,
    vae_evaluator,
)

__all__ = [
    "EVAL_SEED",
    "LOSS_RISE_LIMIT",
    "NonFiniteLossError",
    "ResumeMismatch",
    "Task",
    "TrainConfig",
    "Trainable",
    "data_record",
    "device",
    "evaluate_bits_per_dim",
    "evaluate_nll",
    "fast_mode",
    "run_task",
    "seed_everything",
    "step_generator",
    "step_seed",
    "tabular_evaluator",
    "toy_evaluator",
    "track_validation",
    "train",
    "train_images",
    "train_tabular",
    "train_toy",
    "train_vae",
    "vae_evaluator",
    "write_metrics",
]
