"""Installs the mrcnn package: `pip install -e .`"""

from pathlib import Path

from setuptools import find_packages, setup

requirements = [line.strip() for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith("pytest")]

setup(
    name="mrcnn",
    version="0.1.0",
    description="Mask R-CNN for Keras 3 / TensorFlow 2 with swappable FCN and U-Net mask heads",
    long_description=Path(__file__).with_name("README.md").read_text() if Path("README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mrcnn", "mrcnn.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    extras_require={"test": ["pytest>=8"]},
    license="MIT",
)
