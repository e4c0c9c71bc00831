"""`python -m cai_lang` runs the same command-line interface as `caic`."""

from cai_lang.cli import main

if __name__ == "__main__":
    main()
