"""``python -m cws`` runs the command-line client."""
from cws.cli import main

if __name__ == "__main__":
    main()
