set datafile missing '?'
set title "Fig. 1(a): test accuracy, LR 0.5 (mean, band: min-max of seeds)"
set xlabel "steps"
set ylabel "test accuracy"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "fig1a-lr0.5.png"
plot "fig1a-lr0.5.dat" index 0 using 1:3:4 with filledcurves lc 1 notitle, "fig1a-lr0.5.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "BN", "fig1a-lr0.5.dat" index 1 using 1:3:4 with filledcurves lc 2 notitle, "fig1a-lr0.5.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "no BN", "fig1a-lr0.5.dat" index 2 using 1:3:4 with filledcurves lc 3 notitle, "fig1a-lr0.5.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "no BN, N(0,1/fan_in) init"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "fig1a-lr0.5.svg"
replot
set output
