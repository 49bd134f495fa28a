"""Evaluate a student against its teacher: ``python evaluate.py student=DIR`` (see README).

``student`` is also the name of train.py's config group (``conf/student/``: the initialisation), and Hydra
reads any ``student=...`` override as a choice in that group; so the command line's ``student=DIR`` is
passed on as the config key ``student_dir`` (which may also be given directly).
"""

import sys

import hydra
from omegaconf import DictConfig

from kdnas.pipelines.common import clean_exit
from kdnas.pipelines.evaluate import evaluate, student_override


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@clean_exit
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    sys.argv[1:] = [student_override(arg) for arg in sys.argv[1:]]
    main()
