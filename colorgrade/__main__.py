from colorgrade.cli import main

raise SystemExit(main())
