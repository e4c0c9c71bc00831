"""`python -m cai_lang` runs the same command-line interface as `caic`."""

from cai_lang.cli.fast import main

if __name__ == "__main__":
    main()
