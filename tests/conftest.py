import os

# Rich wraps long lines (e.g. error messages naming deep temporary paths) at the terminal width;
# a wide virtual terminal keeps CLI output assertions independent of where pytest puts its files.
os.environ["COLUMNS"] = "400"
