"""Installs the mrcnn package: `pip install -e .`"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# Runtime dependencies only; requirements.txt adds the test and notebook tools.
RUNTIME = ("tensorflow", "numpy", "scikit-image", "opencv-python-headless", "pycocotools",
           "matplotlib", "h5py", "tensorboard")
requirements = [line.strip() for line in (HERE / "requirements.txt").read_text().splitlines()
                if line.strip().startswith(RUNTIME)]

setup(
    name="mrcnn",
    version="0.1.0",
    description="Mask R-CNN for Keras 3 / TensorFlow 2 with swappable FCN and U-Net mask heads",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mrcnn", "mrcnn.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    license="MIT",
)
