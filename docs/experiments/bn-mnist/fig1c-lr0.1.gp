set datafile missing '?'
set title "Fig. 1(c): with BN, LR 0.1, seed 0: sigmoid input, 15/50/85th percentiles"
set xlabel "steps"
set ylabel "input of the sigmoid"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "fig1c-lr0.1.png"
plot "fig1c-lr0.1.dat" index 0 using 1:3:4 with filledcurves lc 1 notitle, "fig1c-lr0.1.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "median (band: 15th-85th percentile)"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "fig1c-lr0.1.svg"
replot
set output
